"""Errors the morphable package raises for bad user input (the CLI prints them in one line)."""
from basics.errors import UserError


class MorphableError(UserError):
    """A model file, parameter or name a user supplied is wrong or unreadable."""
