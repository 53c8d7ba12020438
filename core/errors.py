"""The one exception a user can cause: a bad value, name or file."""


class UserError(ValueError):
    """Raised for input a user chose; its message is one line saying what is allowed."""
