"""nmc's dialects, registered lazily so that tools import only what they parse."""

from collections.abc import Callable

from xdsl.ir import Dialect


def _linear_string_lexing() -> None:
    """Make xDSL 0.74's string-literal regex linear.

    Its pattern `"(?:[^"\\\n\v\f]+|\\(...))*"` nests `+` inside `*`: on a string that is not closed
    before the end of its line it backtracks exponentially (one deleted quote in a 300-character
    line hung nmc-opt for minutes; found by fuzzing). Matching one character per repetition accepts
    exactly the same strings with no ambiguity, so no backtracking blow-up.
    """
    import re

    from xdsl.utils.mlir_lexer import MLIRLexer

    MLIRLexer._unescaped_characters_regex = re.compile(r'"(?:[^"\\\n\v\f]|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*"')


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    _linear_string_lexing()

    def get_snn() -> Dialect:
        from nmc.dialects.snn import SNN

        return SNN

    def get_core() -> Dialect:
        from nmc.dialects.core import CORE

        return CORE

    def get_map() -> Dialect:
        from nmc.dialects.map import MAP

        return MAP

    def get_tnn() -> Dialect:
        from nmc.dialects.tnn import TNN

        return TNN

    return {"snn": get_snn, "core": get_core, "map": get_map, "tnn": get_tnn}
