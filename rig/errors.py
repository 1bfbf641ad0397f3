"""Errors for bad user input in the rig package (the CLI prints them in one line)."""
from basics.errors import UserError


class RigError(UserError):
    """Something the user supplied (file, value, name) is wrong; printed as one CLI line."""
