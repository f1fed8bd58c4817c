"""nmc: an open compiler for neuromorphic chips, built on xDSL.

`nmc.compile(model, ...)` compiles a torch model (see nmc.api); `nmc.load(path)` loads a chip
binary for the simulator. Both import their heavy dependencies only when called.
"""

from typing import Any

__version__ = "0.1.0"


def compile(model: Any, **options: Any) -> Any:
    from nmc.api import compile as _compile

    return _compile(model, **options)


def load(path: Any) -> Any:
    from nmc.api import load as _load

    return _load(path)
