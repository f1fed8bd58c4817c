"""nmc's passes, registered lazily (one module per pass, kebab name = lit test name)."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {}
