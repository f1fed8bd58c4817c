"""nmc: an open compiler for neuromorphic chips, built on xDSL.

`nmc.compile(model, ...)` compiles a torch model (see nmc.api; every option is a field of
nmc.options.CompileOptions); `nmc.load(path)` loads a chip binary for the simulator;
`nmc.finetune(model, chip, x, y)` trains a converted network into a chip's limits (nmc.finetune);
`nmc.search(space, data, chip, budget=...)` searches architectures under chip budgets (nmc.search).
Both are resolved on first use, so `import nmc` (and nmc-opt) stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["compile", "finetune", "load", "search"]


def __getattr__(name: str) -> Any:
    if name == "compile":
        from nmc.api import compile

        return compile
    if name == "finetune":
        from nmc.training.finetuning import finetune

        return finetune
    if name == "search":
        from nmc.nas.search import search

        return search
    if name == "load":
        from nmc.loaded import load

        return load
    raise AttributeError(f"module 'nmc' has no attribute {name!r}")
