"""Errors the gan package raises for bad user input (the CLI prints them in one line)."""
from basics.errors import UserError


class GanError(UserError):
    """A checkpoint, dataset or value a user supplied is wrong or unreadable."""
