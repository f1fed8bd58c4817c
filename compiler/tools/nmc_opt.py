"""`nmc-opt`: xdsl-opt with nmc's dialects, passes and targets (all registered lazily)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from xdsl.xdsl_opt_main import xDSLOptMain

from nmc.dialects import get_all_dialects
from nmc.targets import get_all_targets


class NmcOptMain(xDSLOptMain):
    version_format = "nmc-opt built on xdsl {xdsl_version}"

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        for name, factory in get_all_dialects().items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        from nmc.pipeline import available_passes

        for name, factory in available_passes().items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()
        for name, factory in get_all_targets().items():
            self.available_targets[name] = factory


def main(args: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-opt"):
        NmcOptMain(description="nmc modular optimizer driver", args=args).run()


if __name__ == "__main__":
    sys.exit(main())
