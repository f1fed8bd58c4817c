"""nmc's dialects, registered lazily so that tools import only what they parse."""

from collections.abc import Callable

from xdsl.ir import Dialect


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    def get_snn() -> Dialect:
        from nmc.dialects.snn import SNN

        return SNN

    def get_core() -> Dialect:
        from nmc.dialects.core import CORE

        return CORE

    def get_map() -> Dialect:
        from nmc.dialects.map import MAP

        return MAP

    return {"snn": get_snn, "core": get_core, "map": get_map}
