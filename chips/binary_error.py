"""The one error a chip binary reader raises (its own module, so the readers of every section kind can
raise it without importing the container reader, chips.binary, that imports them)."""


class BinaryError(Exception):
    """A chip binary that cannot be loaded; the message says what is wrong."""
