"""The one exception type for bad user input (model, chip file, IR, binary, options)."""

from pathlib import Path


class NmcError(Exception):
    """An error in the user's input, with a one-line message that names the file/op/layer and the fix."""


def read_text_file(path: Path, what: str) -> str:
    """The text of `path`, or a one-line NmcError naming it (missing, or not text)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        raise NmcError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise NmcError(f"{path}: is a folder, not a {what}") from None
    except UnicodeDecodeError:
        raise NmcError(f"{path}: not a text {what}") from None
