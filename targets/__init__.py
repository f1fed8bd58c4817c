"""nmc's output targets for `nmc-opt -t`, registered lazily."""

from collections.abc import Callable

from xdsl.utils.target import Target


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    return {}
