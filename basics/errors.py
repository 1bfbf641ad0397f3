"""The base class of every error that is the user's to fix (a file, value or name they supplied)."""


class UserError(ValueError):
    """Something the user supplied is wrong or unreadable; the CLI prints it as one line and exits 2.

    morphable.errors.MorphableError, gan.errors.GanError and rig.errors.RigError derive from it, so
    a front end (the CLI, the app) catches this one class and no library module imports a front end.
    """
