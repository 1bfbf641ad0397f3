"""Errors the morphable package raises for bad user input (the CLI prints them in one line)."""


class MorphableError(ValueError):
    """A model file, parameter or name a user supplied is wrong or unreadable."""
