"""reduce-precision: float groups to the chip's integers.

Each neuron gets one scale factor `s` (NEUTRAMS): the largest that keeps its
weights within `weight-bits`, its threshold within `threshold-bits` and its bias
within `leak-bits`. Weights, threshold, bias and initial potential are all
multiplied by `s` and rounded to nearest, so the neuron's spiking is preserved
up to rounding. A partial-sum unit takes the scale of the neuron it feeds
(its sum arrives with weight 1), so the tree stays exact in integers. Decay
`beta` becomes the shift `s` of `V -= V >> s` with `beta ≈ 1 - 2^-s` (a current-based neuron's
`alpha` likewise, its current in the membrane's scale); a strict
comparison becomes `>=` with threshold + 1 (or the reverse) to match the chip.
Direct (graded) inputs are sent as integers `round(x * levels)`, `levels` from
`input-bits`. Each group records its relative weight error as `weight_error`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float64Type, FloatAttr, IntegerAttr, ModuleOp, i64
from xdsl.passes import ModulePass

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import core
from nmc.dialects.core_ir import Group, build_neurons, core_networks, read_group, replace_group
from nmc.dialects.ir_arrays import from_numpy


def shift_beta(shift: int) -> float:
    """The decay per tick `V -= V >> s` realises: 1 - 2^-s (s = 0: no decay, beta 1)."""
    return 1.0 - 2.0**-shift if shift > 0 else 1.0


def shift_betas(shifts: range) -> str:
    """The betas a shift leak holds exactly for `shifts`, for messages: '0.75, 0.875, 0.9375' for range(2, 5)."""
    return ", ".join(f"{shift_beta(s):g}" for s in shifts)


def decay_shift(beta: float, max_shift: int) -> int:
    """The shift `s` with `1 - 2^-s` closest to `beta` (0 means no decay)."""
    if beta >= 1.0:
        return 0
    if beta <= 0.0:
        return 1
    return int(min(max(round(-math.log2(1.0 - beta)), 1), max(max_shift, 1)))


def realised_beta(shift: int, mult: int | None = None) -> float:
    """The decay per tick `V -= (V * m) >> s` realises: 1 - m 2^-s (m None: the shift leak, m = 1)."""
    return 1.0 - (mult or 1) * 2.0**-shift if shift > 0 else 1.0


def leak_decay(beta: float, core: dict) -> tuple[int, int | None]:
    """The chip's decay closest to `beta`: (s, m) of a multiply leak `V -= (V * m) >> b` (b the chip's
    leak_multiplier_bits) where the chip has one and it comes closer than the shift leak, else (s, None)."""
    if beta >= 1.0:
        return 0, None
    shift = decay_shift(beta, core["max_decay_shift"])
    if "multiply" in core["leak"]:
        b = core["leak_multiplier_bits"]
        m = int(min(max(round((1.0 - max(beta, 0.0)) * 2**b), 1), 2**b))
        if "shift" not in core["leak"] or abs(realised_beta(b, m) - beta) < abs(shift_beta(shift) - beta):
            return b, m
    return shift, None


@dataclass(frozen=True)
class Limits:
    """The integer ranges a neuron's numbers are scaled into (the chip's widths, or overrides)."""

    w_min: int
    w_max: int
    t_max: int
    b_max: int
    levels: int  # a direct (graded) input x is sent as round(x * levels)

    @classmethod
    def of(
        cls,
        chip: Chip,
        weight_bits: int | None = None,
        threshold_bits: int | None = None,
        leak_bits: int | None = None,
        input_bits: int | None = None,
    ) -> Limits:
        c = chip.core
        wbits = weight_bits or c["weight_bits"]
        w_max = (1 << (wbits - 1)) - 1 if c["weight_signed"] else (1 << wbits) - 1
        return cls(
            w_min=-w_max if c["weight_signed"] else 0,
            w_max=w_max,
            t_max=(1 << (threshold_bits or c["threshold_bits"])) - 1,
            b_max=(1 << ((leak_bits or c["leak_bits"]) - 1)) - 1,
            levels=max(1, (1 << ((input_bits or c["input_bits"]) - 1)) - 1),
        )


# The rules below are the only copy: reduce-precision applies them to core groups, and
# quantization-aware fine-tuning (nmc.training.qat) applies them in its forward pass.

MSE_CLIP_LEVELS = np.linspace(0.3, 1.0, 15)


def round_clip(x, lo, hi):
    """Round half to even, then clip to [lo, hi] (None: unbounded); numpy arrays and torch tensors alike."""
    return x.round().clip(lo, hi)


def mse_peaks(post: np.ndarray, w_abs: np.ndarray, peak: np.ndarray, w_max: int) -> np.ndarray:
    """Per neuron, the clipping level (a fraction of its `peak`) minimising the squared error of its weights.

    `post[k]` is the neuron that applies the weight of magnitude `w_abs[k]`.
    """
    errors = []
    for r in MSE_CLIP_LEVELS:
        clip = np.maximum(peak * r, 1e-30)[post]
        step = clip / w_max
        q = np.minimum(np.rint(w_abs / step), w_max) * step
        errors.append(np.bincount(post, (q - w_abs) ** 2, minlength=peak.size))
    return peak * MSE_CLIP_LEVELS[np.argmin(np.stack(errors), axis=0)]


def neuron_scales(peak: np.ndarray, threshold: np.ndarray | None, bias: np.ndarray, limits: Limits, room: int = 0) -> np.ndarray:
    """NEUTRAMS' per-neuron factor: the largest that keeps weights, threshold and bias in range.

    `threshold` is None for neurons that do not fire (partial sums, integrators). `room`: what the threshold gains
    after scaling (1 when a '>' comparison becomes the chip's '>=' as threshold + 1), kept free below t_max.
    """
    with np.errstate(divide="ignore"):
        s = np.where(peak > 0, limits.w_max / peak, np.inf)
        if threshold is not None:
            s = np.minimum(s, (limits.t_max - room) / np.abs(threshold))
        # a chip whose leak holds no magnitude (1 signed bit: b_max 0) cannot hold a bias at any scale: the bias is
        # clipped to 0 (the quantization check measures it) instead of driving the scale, and so the weights, to 0
        s = np.minimum(s, np.where((bias != 0) & (limits.b_max > 0), limits.b_max / np.abs(bias), np.inf))
    return np.where(np.isfinite(s), s, 1.0)


@dataclass(frozen=True)
class ReducePrecisionPass(ModulePass):
    """Quantize every float group; options override the chip's widths."""

    name = "reduce-precision"
    weight_bits: int | None = None
    threshold_bits: int | None = None
    leak_bits: int | None = None
    input_bits: int | None = None
    clip: str = "mse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for net in core_networks(op, "reduce-precision"):
            chip = net.chip.data
            _Quantizer(self, chip).run(net)


class _Quantizer:
    def __init__(self, opts: ReducePrecisionPass, chip: Chip):
        self.chip = chip
        self.limits = Limits.of(chip, opts.weight_bits, opts.threshold_bits, opts.leak_bits, opts.input_bits)
        self.w_max, self.w_min, self.levels = self.limits.w_max, self.limits.w_min, self.limits.levels
        self.chip_compare = chip.core["compare"]
        self.mse = opts.clip == "mse"
        if opts.clip not in ("mse", "max"):
            raise NmcError(f"reduce-precision: clip must be 'mse' or 'max', got {opts.clip!r}")

    def run(self, net: core.NetworkOp) -> None:
        block = net.body.block
        ops = [o for o in block.ops if isinstance(o, core.NeuronsOp) and not o.quantized]
        groups = {o: read_group(o) for o in ops}
        for op in block.ops:
            if isinstance(op, core.InputOp) and op.encoding.data == core.Encoding.DIRECT and op.levels is None:
                op.levels = IntegerAttr(self._input_levels(op, groups), i64)
        peak: dict[core.NeuronsOp, np.ndarray] = {}
        for o in ops:  # producers first: a neuron's peak includes its partial sums' weights
            peak[o] = self._peak_weights(groups[o], peak)
        if self.mse:
            peak = self._mse_peaks(ops, groups, peak)
        scale: dict[core.NeuronsOp, np.ndarray] = {}
        for o in reversed(ops):  # consumers first: a partial sum takes its consumer's scale
            g = groups[o]
            scale[o] = self._inherited_scale(o, g, scale) if g.mode == "psum" else self._own_scale(g, peak[o])
        for o in ops:
            new = build_neurons(replace(self._quantize(o, groups[o], scale[o]), inputs=list(o.inputs)))
            new.delays = o.delays  # quantization keeps the structure, so the balancing delays stay
            for use in list(o.output.uses):
                user = use.operation
                if isinstance(user, core.DecodeOp) and user.kind.data == core.Decoding.MEMBRANE:
                    user.scale = from_numpy(1.0 / scale[o], Float64Type())
            replace_group(o, [new])

    @staticmethod
    def _operand_mask(g: Group, pick) -> np.ndarray:
        """Synapses of the operands `pick(value)` selects."""
        mask = np.zeros(g.pre.size, bool)
        offsets = g.offsets()
        for k, v in enumerate(g.inputs):
            if pick(v):
                mask |= (g.pre >= offsets[k]) & (g.pre < offsets[k + 1])
        return mask

    @staticmethod
    def _is_graded_input(v) -> bool:
        return isinstance(v.owner, core.InputOp) and isinstance(v.type, core.GradedType)

    def _graded_input_mask(self, g: Group) -> np.ndarray:
        """Synapses whose input is a direct host input (sent as `round(x * levels)`)."""
        return self._operand_mask(g, self._is_graded_input)

    def _psum_mask(self, g: Group) -> np.ndarray:
        return self._operand_mask(g, lambda v: isinstance(v.owner, core.NeuronsOp) and v.owner.mode.data == core.Mode.PSUM)

    def _effective(self, g: Group) -> np.ndarray:
        """The weights as the chip applies them: a graded host input arrives as round(x * levels)."""
        w = g.weight.astype(np.float64).copy()
        for v in {v for v in g.inputs if self._is_graded_input(v)}:
            levels = v.owner.levels.value.data if v.owner.levels is not None else self.levels
            w[self._operand_mask(g, lambda u, v=v: u is v)] /= levels
        return w

    def _input_levels(self, op: core.InputOp, groups: dict) -> int:
        """Levels of a direct input: the chip's, unless a population adds it to spikes at one scale (a recurrent
        layer on direct input). There the spike weights bound the scale s, the input's weights keep w * s / L
        levels and its values x * L: L = sqrt(s * |w|) balances the two roundings (x ~ 1), in powers of two."""
        best = self.levels
        for g in groups.values():
            graded = self._operand_mask(g, lambda v: v.owner is op)
            if not graded.any() or graded.all() or g.mode != "spike":
                continue
            w = np.abs(g.weight.astype(np.float64))
            spike_peak = np.zeros(g.size)
            np.maximum.at(spike_peak, g.post[~graded], w[~graded])
            s = np.median(neuron_scales(spike_peak, g.threshold, g.bias, self.limits))
            typical = float(np.percentile(w[graded], 90))
            if s * typical > 0:
                best = min(best, 1 << max(0, round(float(np.log2(np.sqrt(s * typical))))))
        return int(best)

    def _peak_weights(self, g: Group, peaks: dict) -> np.ndarray:
        """Per neuron, the largest |weight| it applies, through its partial-sum units."""
        w = np.abs(self._effective(g))
        psum = self._psum_mask(g)
        w[psum] = 0.0
        peak = np.zeros(g.size)
        np.maximum.at(peak, g.post, w)
        offsets = g.offsets()
        for k, v in enumerate(g.inputs):
            src = v.owner
            if isinstance(src, core.NeuronsOp) and src in peaks and src.mode.data == core.Mode.PSUM:
                sel = (g.pre >= offsets[k]) & (g.pre < offsets[k + 1])
                np.maximum.at(peak, g.post[sel], peaks[src][g.pre[sel] - offsets[k]])
        return peak

    def _mse_peaks(self, ops: list, groups: dict, peak: dict) -> dict:
        """Per neuron, the clipping level (a fraction of its peak) that minimises the squared weight error."""
        weights: dict = {o: [] for o in ops}  # per neuron: (post, |effective weight|) of every leaf synapse
        for o in ops:
            g = groups[o]
            w = np.abs(self._effective(g))
            direct = ~self._psum_mask(g)
            weights[o].append((g.post[direct], w[direct]))
        for o in reversed(ops):  # hand each partial sum's synapses to the neuron it feeds
            g = groups[o]
            if g.mode != "psum":
                continue
            target = np.full(g.size, -1)
            for use in o.output.uses:
                user = use.operation
                if isinstance(user, core.NeuronsOp) and user in groups:
                    ug = groups[user]
                    offsets = ug.offsets()
                    sel = (ug.pre >= offsets[use.index]) & (ug.pre < offsets[use.index + 1])
                    target[ug.pre[sel] - offsets[use.index]] = ug.post[sel]
                    for post, w in weights[o]:
                        weights[user].append((target[post], w))
        best = dict(peak)
        for o in ops:
            g = groups[o]
            if g.mode == "psum" or not weights[o]:
                continue
            post = np.concatenate([p for p, _ in weights[o]])
            w = np.concatenate([w for _, w in weights[o]])
            best[o] = mse_peaks(post, w, peak[o], self.w_max)
        return best

    def _own_scale(self, g: Group, peak: np.ndarray) -> np.ndarray:
        # a '>' threshold on a '>=' chip becomes threshold + 1 (_quantize): leave it that room below the width
        room = int(g.mode == "spike" and g.compare == "gt" and self.chip_compare != "gt")
        return neuron_scales(peak, g.threshold if g.mode == "spike" else None, g.bias, self.limits, room)

    def _inherited_scale(self, o: core.NeuronsOp, g: Group, scale: dict) -> np.ndarray:
        s = np.ones(g.size)
        for use in o.output.uses:
            user = use.operation
            if not isinstance(user, core.NeuronsOp) or user not in scale:
                continue
            ug = read_group(user)
            offsets = ug.offsets()
            k = use.index
            sel = (ug.pre >= offsets[k]) & (ug.pre < offsets[k + 1])
            s[ug.pre[sel] - offsets[k]] = scale[user][ug.post[sel]]
        return s

    def _quantize(self, o: core.NeuronsOp, g: Group, s: np.ndarray) -> Group:
        w_eff = self._effective(g)
        psum = self._psum_mask(g)
        scaled = w_eff * s[g.post]
        wq = round_clip(scaled, self.w_min, self.w_max).astype(np.int64)
        wq[psum] = np.rint(g.weight[psum]).astype(np.int64)  # sums arrive already scaled
        threshold = round_clip(g.threshold * s, 1, None).astype(np.int64)
        if g.mode == "psum" or g.mode == "integrate":
            threshold = np.ones(g.size, np.int64)
        compare = g.compare
        if g.mode == "spike" and compare != self.chip_compare:
            threshold = threshold + (1 if compare == "gt" else -1)
            compare = self.chip_compare
            # '>= 1' as '> 0' is exact, but a chip's thresholds start at 1: '> 1' (V >= 2) for a neuron whose weights
            # are over w_max times its threshold, where the scale leaves the threshold one step (the check measures it)
            threshold = np.maximum(threshold, 1)
        bias = round_clip(g.bias * s, -self.limits.b_max, self.limits.b_max).astype(np.int64)
        v_init = np.rint(g.v_init * s).astype(np.int64)
        norm = float(np.linalg.norm(w_eff[~psum]))
        err = float(np.linalg.norm(wq[~psum] / s[g.post[~psum]] - w_eff[~psum]) / norm) if norm > 0 else 0.0
        attrs = dict(g.attributes)
        attrs["weight_error"] = FloatAttr(round(err, 6), Float64Type())
        graded = self._graded_input_mask(g)
        if graded.any() and (~graded).any():
            # one scale for graded host inputs (sent as x * levels, so their weights shrink by levels) and other
            # inputs: the levels the graded weights keep tell the user when that scale starves them
            attrs["graded_input_levels"] = IntegerAttr(int(np.abs(wq[graded]).max(initial=0)), i64)
        shift, mult = leak_decay(g.beta if g.beta is not None else 1.0, self.chip.core)
        # a current-based neuron's current is in the membrane's scale; alpha becomes a decay of the same forms
        c_shift, c_mult = leak_decay(g.alpha, self.chip.core) if g.alpha is not None else (None, None)
        return replace(
            g,
            weight=wq,
            threshold=threshold,
            bias=bias,
            v_init=v_init,
            compare=compare,
            beta=None,
            decay_shift=shift,
            decay_mult=mult,
            alpha=None,
            current_shift=c_shift,
            current_mult=c_mult,
            attributes=attrs,
        )
