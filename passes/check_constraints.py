"""check-constraints: list every way a core network breaks its chip's limits.

Each violation names the layer (as in the source model), the limit, the value
and the pass or option that would fix it. The pass fails with the whole list;
`violations()` returns it for reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import core
from nmc.dialects.core_ir import core_networks, fan_out, read_group


@dataclass(frozen=True)
class Violation:
    layer: str
    limit: str
    value: str
    fix: str
    what: str = "layer"  # "network" for limits of the whole network (the mesh), "input" for host inputs

    def __str__(self) -> str:
        return f"{self.what} '{self.layer}': {self.limit}, got {self.value} (fix: {self.fix})"


def _group_violations(op: core.NeuronsOp, chip: Chip, out: list[Violation]) -> None:

    c = chip.core
    g = read_group(op)
    name = g.layer
    fan_in = g.fan_in()
    if fan_in.max(initial=0) > c["max_fan_in"]:
        over = int((fan_in > c["max_fan_in"]).sum())
        fix = "decompose-fan-in"
        if not c["partial_sums"]:
            fix = "decompose-fan-in{approximate=true}, i.e. nmc-compile --approximate-fan-in (the chip has no partial sums)"
        limit = f"fan-in <= {c['max_fan_in']} (core.max_fan_in)"
        out.append(Violation(name, limit, f"{int(fan_in.max())} on {over} of {g.size} neurons", fix))
    widest = int(fan_out(op.output).max(initial=0))
    if widest > c["max_fan_out"]:
        out.append(Violation(name, f"fan-out <= {c['max_fan_out']} (core.max_fan_out)", str(widest), "decompose-fan-out"))
    if g.mode == "psum" and not c["partial_sums"]:
        out.append(
            Violation(
                name,
                f"chip '{chip.name}' has no partial-sum units",
                "a partial-sum group",
                "decompose-fan-in{approximate=true} before lowering to this chip",
            )
        )
    if "max_spikes" in g.attributes:
        out.append(Violation(name, "one spike per neuron and tick", f"up to {g.attributes['max_spikes'].value.data}",
                             "max_spikes=1 for this chip (several spikes per tick: --target xylo)"))  # fmt: skip
    if g.current_based and "cuba" not in c["neuron"]:
        out.append(Violation(name, f"neuron families {', '.join(c['neuron'])} (core.neuron)", "current-based (cuba)",
                             "a chip whose core.neuron lists cuba (loihi1), or retrain with LIF neurons"))  # fmt: skip
    if g.mode == "spike" and g.reset not in c["reset"]:
        out.append(
            Violation(
                name,
                f"reset modes {', '.join(c['reset'])} (core.reset)",
                g.reset,
                f"train the model with reset={c['reset'][0]!r} or pick a chip that resets by {g.reset}",
            )
        )
    if not g.integer:
        out.append(Violation(name, f"{c['weight_bits']}-bit integer weights", "float weights", "reduce-precision"))
        if g.beta is not None and g.beta < 1.0 and not {"shift", "multiply"} & set(c["leak"]):
            out.append(
                Violation(
                    name,
                    "leak kinds " + ", ".join(c["leak"]),
                    f"decay beta={g.beta:g}",
                    "use IF neurons (beta=1) or a chip with a shift or multiply leak",
                )
            )
        if g.alpha is not None and g.alpha < 1.0 and not {"shift", "multiply"} & set(c["leak"]):
            out.append(Violation(name, "leak kinds " + ", ".join(c["leak"]), f"current decay alpha={g.alpha:g}",
                                 "alpha = 1 or a chip with a shift or multiply leak"))  # fmt: skip
        return
    lo, hi = chip.weight_range
    if g.weight.size and (g.weight.min() < lo or g.weight.max() > hi):
        out.append(
            Violation(
                name,
                f"weights in [{lo}, {hi}] (core.weight_bits={c['weight_bits']})",
                f"[{int(g.weight.min())}, {int(g.weight.max())}]",
                f"reduce-precision{{weight-bits={c['weight_bits']}}}",
            )
        )
    if g.mode == "spike":
        t_hi = (1 << c["threshold_bits"]) - 1
        if g.threshold.min(initial=1) < 1 or g.threshold.max(initial=0) > t_hi:
            out.append(
                Violation(
                    name,
                    f"thresholds in [1, {t_hi}] (core.threshold_bits)",
                    f"[{int(g.threshold.min())}, {int(g.threshold.max())}]",
                    "reduce-precision",
                )
            )
        if g.compare != c["compare"]:
            out.append(Violation(name, f"threshold comparison '{c['compare']}'", g.compare, "reduce-precision"))
    b_lo, b_hi = Chip.signed_range(c["leak_bits"])
    if g.bias.size and (g.bias.min() < b_lo or g.bias.max() > b_hi):
        out.append(
            Violation(
                name,
                f"bias in [{b_lo}, {b_hi}] (core.leak_bits)",
                f"[{int(g.bias.min())}, {int(g.bias.max())}]",
                "reduce-precision",
            )
        )
    out += _decay_violations(name, c, g.decay_shift or 0, g.decay_mult or 1, "", "beta")
    if g.current_based:
        out += _decay_violations(name, c, g.current_shift or 0, g.current_mult or 1, "current ", "alpha")
    delays = list(op.delays.get_values())
    if max(delays, default=0) > c["max_axon_delay"]:
        out.append(
            Violation(
                name,
                f"axon delays <= {c['max_axon_delay']} (core.max_axon_delay)",
                str(max(delays)),
                "a chip with longer axon delays, or a model whose paths have equal depth",
            )
        )


def violations(module: ModuleOp, chip: Chip | None = None) -> list[Violation]:
    out: list[Violation] = []
    for net in core_networks(module, "check-constraints"):
        ch = chip or net.chip.data
        total = 0
        for op in net.body.block.ops:
            if isinstance(op, core.NeuronsOp):
                _group_violations(op, ch, out)
                total += op.size
            elif isinstance(op, core.InputOp) and op.encoding.data == core.Encoding.DIRECT and ch.core["input_bits"] < 2:
                out.append(
                    Violation(
                        op.output.name_hint or "input",
                        "graded inputs (core.input_bits >= 2)",
                        f"core.input_bits={ch.core['input_bits']}",
                        "--encoding rate or poisson",
                        what="input",
                    )
                )
            elif isinstance(op, core.InputOp) and op.levels is not None:
                top = (1 << (ch.core["input_bits"] - 1)) - 1
                if op.levels.value.data > top:
                    out.append(
                        Violation(
                            op.output.name_hint or "input",
                            f"input levels <= {top} (core.input_bits)",
                            str(op.levels.value.data),
                            "reduce-precision",
                            what="input",
                        )
                    )
        capacity = ch.cores * ch.core["neurons"]
        if total > capacity:
            out.append(
                Violation(
                    net.sym_name.data,
                    f"{capacity} neurons ({ch.mesh[0]}x{ch.mesh[1]} cores of {ch.core['neurons']})",
                    f"{total} neurons",
                    "a chip with a larger mesh",
                    what="network",
                )
            )
    return out


def report(items: list[Violation], chip_name: str) -> str:
    lines = [f"the network does not fit chip '{chip_name}': {len(items)} violation(s)"]
    lines += [f"  {v}" for v in items]
    return "\n".join(lines)


@dataclass(frozen=True)
class CheckConstraintsPass(ModulePass):
    """Fail with the full list of chip-limit violations, if there is any."""

    name = "check-constraints"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        core_networks(op, "check-constraints")
        found = violations(op)
        if found:
            raise NmcError(report(found, ", ".join(sorted({n.chip.data.name for n in core_networks(op, "check-constraints")}))))


def _decay_violations(name: str, c: dict, shift: int, mult: int, what: str, factor: str) -> list[Violation]:
    """The membrane's decay (`what` ""), or a current-based neuron's current decay ("current "), in the leak forms the
    core has."""
    fix = "use IF neurons (beta=1)" if not what else f"{factor} = 1 (no {what}decay)"
    if mult != 1:
        if "multiply" not in c["leak"]:
            return [Violation(name, "leak kinds " + ", ".join(c["leak"]), f"multiply {what or ''}leak ({mult} >> {shift})",
                              "a chip with a multiply leak (core.leak), or reduce-precision for this chip")]  # fmt: skip
        if shift > c["leak_multiplier_bits"]:
            return [Violation(name, f"multiply leak of <= {c['leak_multiplier_bits']} bits (core.leak_multiplier_bits)",
                              f"{shift} bits", "reduce-precision for this chip")]  # fmt: skip
        return []
    if shift and "shift" not in c["leak"]:
        return [Violation(name, "leak kinds " + ", ".join(c["leak"]), f"{what}decay shift {shift}",
                          f"{fix} or a chip with a shift leak")]  # fmt: skip
    if shift > c["max_decay_shift"]:
        return [Violation(name, f"{what}decay shift <= {c['max_decay_shift']}", str(shift), f"a larger {factor}")]
    return []
