"""Errors the gan package raises for bad user input (the CLI prints them in one line)."""


class GanError(ValueError):
    """A checkpoint, dataset or value a user supplied is wrong or unreadable."""
