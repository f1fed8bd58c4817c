"""User-facing errors: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from nmc.chips.errors import NmcError

__all__ = ["InputRejected", "ModelRejected", "NmcError", "report_user_errors"]


class InputRejected(NmcError):
    """What the command line names cannot be used as given: exit status 2.

    The tools' exit statuses (one table, docs/design-notes.md "Exit statuses"):
    0 done; 1 the work failed (a network that does not fit, the accuracy gate, a chip description, IR or
    binary whose content does not verify); 2 the input was rejected before any work: the command line, a
    file it names that is missing or not the kind of file expected, a model nmc cannot convert;
    130 interrupted; 141 the output pipe closed.
    """


class ModelRejected(InputRejected):
    """The input model (a torch file, a NIR graph) cannot be compiled as given: exit status 2."""


@contextmanager
def report_user_errors(tool: str) -> Iterator[None]:
    """Turn user errors into `tool: error: message` on stderr and exit status 1 (2: the input rejected)."""
    from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError, VerifyException

    try:
        yield
    except NmcError as e:
        _die(tool, str(e), status=2 if isinstance(e, InputRejected) else 1)
    except ParseError as e:
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        _die(tool, f"{lines[0]}: {lines[-1].strip()}" if len(lines) > 1 else str(e))
    except ArgSpecParseError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        _die(
            tool,
            f"bad pass pipeline: {lines[-1].lower()} at '{lines[2][int(lines[1].rsplit(':', 1)[-1]) - 1 :]}'"
            if len(lines) >= 4
            else " ".join(lines),
        )
    except (VerifyException, DiagnosticException) as e:
        _die(tool, _first_meaningful_line(str(e)))
    except ValueError as e:  # xDSL reports bad pass pipelines and options as ValueError
        _die(tool, _first_meaningful_line(str(e)))
    except BrokenPipeError:  # `nmc-compile ... | head`: the reader left; end quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except FileNotFoundError as e:
        _die(tool, f"{e.filename}: no such file")
    except IsADirectoryError as e:
        _die(tool, f"{e.filename}: is a folder, a file was expected")
    except PermissionError as e:
        _die(tool, f"{e.filename}: permission denied")
    except OSError as e:  # a full disk, a read-only filesystem, ...
        where = f"{e.filename}: " if e.filename else ""
        _die(tool, f"{where}{e.strerror or e}")
    except (OverflowError, struct.error) as e:  # xDSL packing a literal into its element type
        _die(tool, f"a number does not fit its type ({e}): check the IR's dense<...> values and arrays")
    except NotImplementedError as e:  # e.g. an integer width xDSL cannot print
        _die(tool, f"not supported: {e}")
    except MemoryError:
        _die(tool, "out of memory (the model or input is too large for this machine)")
    except KeyboardInterrupt:
        _die(tool, "interrupted", status=130)
    except AssertionError as e:
        # xDSL 0.74's parser asserts on some malformed literals (e.g. `(1, 2, 3)` in a dense<...>);
        # only those become a one-line syntax error, an assertion anywhere else stays a bug report
        if not _raised_in_xdsl_parser(e):
            raise
        _die(tool, f"syntax error: {str(e).splitlines()[0][:200]}")


def _raised_in_xdsl_parser(e: BaseException) -> bool:
    tb = e.__traceback__
    last = None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return last is not None and ("/xdsl/parser/" in last.replace("\\", "/") or last.endswith("mlir_lexer.py"))


def _first_meaningful_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "Operation does not verify" in ln or ln.startswith(("error", "Error")):
            return ln
    return " ".join(lines[:3]) if lines else "unknown error"


def _die(tool: str, message: str, status: int = 1) -> None:
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(status)
