"""`nmc-opt`: xdsl-opt with nmc's dialects, passes and targets (all registered lazily)."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.xdsl_opt_main import xDSLOptMain

from nmc.dialects import get_all_dialects
from nmc.targets import get_all_targets


class NmcOptMain(xDSLOptMain):
    """xdsl-opt showing nmc's passes and targets (xDSL's own with `--all`)."""

    version_format = "nmc-opt built on xdsl {xdsl_version}"

    def __init__(self, description: str = "nmc modular optimizer driver", args: Sequence[str] | None = None):
        argv = list(sys.argv[1:] if args is None else args)
        self.show_all = "--all" in argv
        super().__init__(description=description, args=[a for a in argv if a != "--all"])

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        from nmc.options import DEFAULT_MAX_MODEL_BYTES

        super().register_all_arguments(arg_parser)
        arg_parser.add_argument("--all", action="store_true", help="also offer xDSL's own passes and targets")
        arg_parser.add_argument(
            "--max-model-bytes",
            type=int,
            default=DEFAULT_MAX_MODEL_BYTES,
            help="memory allowed for reading the IR (bytes); a file declaring a larger tensor is refused",
        )

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0) -> ModuleOp | None:
        """Check the declared tensor sizes before xDSL's parser expands them, then parse under the same bound."""
        from nmc.limits import bounded_memory, check_declared_tensors

        data = chunk.read()
        where = self.args.input_file or "<stdin>"
        limit = self.args.max_model_bytes
        check_declared_tensors(data.decode("utf-8", errors="replace"), where, limit)
        with bounded_memory(where, limit):
            return super().parse_chunk(io.BytesIO(data), file_extension, start_offset)

    def run(self) -> None:
        """As xdsl-opt, but `-o FILE` is written whole or not at all: the output goes to a hidden file beside it,
        renamed over FILE only when every chunk has parsed, verified and printed (an error, Ctrl-C or a full disk
        leaves FILE as it was)."""
        import os
        import tempfile
        from pathlib import Path

        target = self.args.output_file
        if target is None:
            super().run()
            return
        path = Path(target)
        fd, staging = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o666 & ~umask)  # as open() would create it (mkstemp makes it private)
        self.args.output_file = staging
        try:
            super().run()
            os.replace(staging, path)
        finally:
            self.args.output_file = target
            Path(staging).unlink(missing_ok=True)

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        for name, factory in get_all_dialects().items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        if self.show_all:
            super().register_all_passes()
        from nmc.pipeline import available_passes

        for name, factory in available_passes().items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()
        if not self.show_all:  # the IR printer stays (the default output); xDSL's code generators only with --all
            self.available_targets = {k: v for k, v in self.available_targets.items() if k == "mlir"}
        for name, factory in get_all_targets().items():
            self.available_targets[name] = factory


def main(args: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-opt"):
        NmcOptMain(description="nmc modular optimizer driver", args=args).run()


if __name__ == "__main__":
    sys.exit(main())
