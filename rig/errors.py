"""Errors for bad user input in the rig package and the CLI."""


class RigError(ValueError):
    """Something the user supplied (file, value, name) is wrong; printed as one CLI line."""
