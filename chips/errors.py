"""The one exception type for bad user input (model, chip file, IR, binary, options)."""


class NmcError(Exception):
    """An error in the user's input, with a one-line message that names the file/op/layer and the fix."""
