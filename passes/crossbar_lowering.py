"""The crossbar kind's lowering (snn-to-core): an `snn.network` becomes a `core.network` of neuron groups.

Every population becomes one `core.neurons` group whose synapse list is the
composition of the linear projections between it and the spike sources it
reads (conv unrolled, pooling, flatten and reshape folded, residual adds merged, bias as
a per-neuron bias current). Encoders become host inputs, decoders host
decoders; a membrane decoder of a current becomes an integrate-mode group.
A current-based population becomes a current-based group (its synaptic current a
second state per neuron). A loop (an snn.delay back edge) becomes an operand that
reads the population's own group, lagged: it closes on the chip in one tick per
turn when the loop is one population (core.neurons checks the timing).
Exact: the core interpreter reproduces the snn interpreter's spikes, each group
delayed by its recorded depth (one tick per hop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import core, snn
from nmc.dialects.core_ir import Group, build_neurons, rebalance
from nmc.dialects.ir_arrays import ir_name, to_numpy


class Lagged(NamedTuple):
    """Spikes of `source` read `lag` model ticks late (an snn.delay): a core.neurons operand with that lag."""

    source: SSAValue
    lag: int


@dataclass
class Affine:
    """`current = Σ_src M[src] @ src + const`: a current as a linear map of spike/graded sources."""

    terms: dict[SSAValue, object]  # scipy.sparse csr matrices (n_out x n_src)
    const: np.ndarray

    def map(self, m: object, extra: np.ndarray | None = None) -> Affine:
        terms = {s: (m @ t).tocsr() for s, t in self.terms.items()}
        const = m @ self.const
        return Affine(terms, const if extra is None else const + extra)


def conv_matrix(in_shape, weight: np.ndarray, stride, padding):
    """The unrolled 2-D convolution as a sparse (O*Ho*Wo) x (C*H*W) matrix."""
    from scipy import sparse

    c, h, w = in_shape
    o, _, kh, kw = weight.shape
    ho, wo = snn.conv_output_hw((h, w), (kh, kw), tuple(stride), tuple(padding))
    oo, yy, xx, cc, ii, jj = np.meshgrid(
        np.arange(o), np.arange(ho), np.arange(wo), np.arange(c), np.arange(kh), np.arange(kw), indexing="ij"
    )
    iy = yy * stride[0] - padding[0] + ii
    ix = xx * stride[1] - padding[1] + jj
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w) & (weight[oo, cc, ii, jj] != 0)
    rows = ((oo * ho + yy) * wo + xx)[ok]
    cols = ((cc * h + iy) * w + ix)[ok]
    vals = weight.astype(np.float64)[oo, cc, ii, jj][ok]
    return sparse.csr_matrix((vals, (rows, cols)), shape=(o * ho * wo, c * h * w))


def pool_matrix(in_shape, kernel, stride, average: bool):
    from scipy import sparse

    c, h, w = in_shape
    ho, wo = snn.conv_output_hw((h, w), tuple(kernel), tuple(stride), (0, 0))
    cc, yy, xx, ii, jj = np.meshgrid(
        np.arange(c), np.arange(ho), np.arange(wo), np.arange(kernel[0]), np.arange(kernel[1]), indexing="ij"
    )
    rows = ((cc * ho + yy) * wo + xx).ravel()
    cols = ((cc * h + yy * stride[0] + ii) * w + xx * stride[1] + jj).ravel()
    value = 1.0 / (kernel[0] * kernel[1]) if average else 1.0
    return sparse.csr_matrix((np.full(rows.size, value), (rows, cols)), shape=(c * ho * wo, c * h * w))


class _Lowering:
    def __init__(self, net: snn.NetworkOp, chip: Chip):
        self.net = net
        self.block = Block(arg_types=[a.type for a in net.body.block.args])
        for old, new in zip(net.body.block.args, self.block.args, strict=True):
            new.name_hint = old.name_hint
        self.args = dict(zip(net.body.block.args, self.block.args, strict=True))
        self.chip = chip
        self.values: dict[SSAValue, SSAValue | Affine] = {}
        self.count = 0
        self.loops = snn.back_edge_delays(net.body.block)
        self.standins: dict[SSAValue, tuple[core.InputOp, SSAValue]] = {}  # loop stand-in -> (its op, snn population)

    def add(self, op):
        self.block.add_op(op)
        return op

    def affine(self, v: SSAValue) -> Affine:
        from scipy import sparse

        x = self.values[v]
        if isinstance(x, Affine):
            return x
        n = core.size_of(x.source.type if isinstance(x, Lagged) else x.type)
        return Affine({x: sparse.identity(n, format="csr", dtype=np.float64)}, np.zeros(n))

    def name(self, v: SSAValue, kind: str) -> str:
        self.count += 1
        return v.name_hint or f"{kind}{self.count}"

    def group(self, current: Affine, layer: str, **kw) -> core.NeuronsOp:
        from scipy import sparse

        keys = list(current.terms)
        sources = [k.source if isinstance(k, Lagged) else k for k in keys]
        lags = [k.lag if isinstance(k, Lagged) else 0 for k in keys]
        m = sparse.hstack([current.terms[k] for k in keys], format="csr") if keys else None
        n = current.const.shape[0]
        if m is None:
            pre = post = np.zeros(0, np.int64)
            weight = np.zeros(0)
        else:
            m = m.tocoo()
            keep = m.data != 0
            pre, post, weight = m.col[keep].astype(np.int64), m.row[keep].astype(np.int64), m.data[keep]
        threshold = np.full(n, kw.pop("threshold", 1.0))
        v_init = np.full(n, kw.pop("v_init", 0.0))
        g = Group(layer, kw.pop("mode"), sources, n, pre, post, weight, threshold, current.const.astype(np.float64), v_init, **kw)
        g.lags = lags if any(lags) else None
        op = self.add(build_neurons(g))
        op.output.name_hint = ir_name(layer)
        return op

    def run(self) -> core.NetworkOp:
        for op in self.net.body.block.ops:
            self.lower(op)
        self.close_loops()
        rebalance(self.block)
        return core.NetworkOp.build(
            properties={
                "sym_name": self.net.sym_name,
                "ticks": self.net.ticks,
                "dt": self.net.dt,
                "chip": core.ChipAttr(self.chip),
            },
            regions=[Region(self.block)],
        )

    def loop_standin(self, op: snn.DelayOp) -> Lagged:
        """A back edge: a stand-in value for the group of a population not lowered yet, replaced by `close_loops`."""
        n = int(np.prod(snn.shape_of(op.output.type)))
        standin = core.InputOp.build(operands=[self.block.args[0]], result_types=[core.SpikesType(n)])
        self.standins[standin.output] = (standin, op.input)
        return Lagged(standin.output, op.ticks.value.data)

    def close_loops(self) -> None:
        for value, (standin, population) in self.standins.items():
            group = self.values.get(population)
            if not isinstance(group, SSAValue) or not isinstance(group.owner, core.NeuronsOp):
                raise NmcError(f"snn-to-core: a loop reads '{population.name_hint}' back, which is not a neuron population "
                               "(only a population's spikes can be delayed into a loop)")  # fmt: skip
            value.replace_all_uses_with(group)
            standin.erase()

    def lower(self, op) -> None:
        from scipy import sparse

        if isinstance(op, snn.ENCODER_OPS):
            kind = {snn.EncodeDirectOp: "direct", snn.EncodeRateOp: "rate", snn.EncodePoissonOp: "poisson",
                    snn.EncodeSpikesOp: "spikes"}[type(op)]  # fmt: skip
            n = int(np.prod(snn.shape_of(op.input.type)))
            out = core.GradedType(n) if kind == "direct" else core.SpikesType(n)
            seed = op.seed.value.data if isinstance(op, snn.EncodePoissonOp) else 0
            new = self.add(
                core.InputOp.build(
                    operands=[self.args[op.input]],
                    result_types=[out],
                    properties={
                        "encoding": core.EncodingAttr(core.Encoding(kind)),
                        "scale": op.scale if not isinstance(op, snn.EncodeSpikesOp) else snn.f64(1.0),
                        "seed": IntegerAttr(seed, i64),
                    },
                )
            )
            new.output.name_hint = op.output.name_hint
            self.values[op.output] = new.output
        elif isinstance(op, snn.DenseOp):
            w = sparse.csr_matrix(to_numpy(op.weights).astype(np.float64))
            b = None if op.bias is None else to_numpy(op.bias).astype(np.float64)
            self.values[op.output] = self.affine(op.input).map(w, b)
        elif isinstance(op, snn.Conv2dOp):
            weight = to_numpy(op.weights).astype(np.float64)
            m = conv_matrix(snn.shape_of(op.input.type), weight, list(op.stride.get_values()), list(op.padding.get_values()))
            bias = None
            if op.bias is not None:
                _, ho, wo = snn.shape_of(op.output.type)
                bias = np.repeat(to_numpy(op.bias).astype(np.float64), ho * wo)
            self.values[op.output] = self.affine(op.input).map(m, bias)
        elif isinstance(op, snn.Pool2dOp):
            m = pool_matrix(
                snn.shape_of(op.input.type),
                list(op.kernel.get_values()),
                list(op.stride.get_values()),
                op.kind.data == snn.PoolKind.AVG,
            )
            self.values[op.output] = self.affine(op.input).map(m)
        elif isinstance(op, snn.FlattenOp | snn.ReshapeOp):
            self.values[op.output] = self.values[op.input]
        elif isinstance(op, snn.DelayOp) and op in self.loops:
            self.values[op.output] = self.loop_standin(op)
        elif isinstance(op, snn.DelayOp):
            src = self.values[op.input]
            base = src if isinstance(src, Lagged) else Lagged(src, 0)
            self.values[op.output] = Lagged(base.source, base.lag + op.ticks.value.data)
        elif isinstance(op, snn.AddOp):
            parts = [self.affine(v) for v in op.inputs]
            terms: dict[SSAValue, object] = {}
            const = np.zeros_like(parts[0].const)
            for part, scale in zip(parts, op.scales.get_values(), strict=True):
                for s, m in part.terms.items():
                    terms[s] = (terms[s] + scale * m) if s in terms else scale * m
                const = const + scale * part.const
            self.values[op.output] = Affine(terms, const)
        elif isinstance(op, snn.IFOp | snn.LIFOp | snn.CubaLIFOp):
            beta = op.beta.value.data if isinstance(op, snn.LIFOp | snn.CubaLIFOp) else 1.0
            kw = {"alpha": op.alpha.value.data} if isinstance(op, snn.CubaLIFOp) else {}
            if op.spikes_per_tick > 1:  # a Xylo-style multi-spike neuron: carried for --target xylo, refused by chips
                kw["attributes"] = {"max_spikes": IntegerAttr(op.spikes_per_tick, i64)}
            g = self.group(
                self.affine(op.input),
                self.name(op.output, "pop"),
                mode="spike",
                threshold=op.threshold.value.data,
                v_init=op.v_init.value.data,
                beta=beta,
                reset=op.reset.data.value,
                compare=op.compare.data.value,
                **kw,
            )
            self.values[op.output] = g.output
        elif isinstance(op, snn.DecodeCountOp | snn.DecodeFirstSpikeOp):
            src = self.values[op.input]
            if isinstance(src, Lagged):
                raise NmcError(f"snn-to-core: '{op.name}' of a delayed spike train: decode the population before the delay")
            assert isinstance(src, SSAValue)
            kind = core.Decoding.COUNT if isinstance(op, snn.DecodeCountOp) else core.Decoding.FIRST_SPIKE
            self.decode(op, src, kind)
        elif isinstance(op, snn.DecodeMembraneOp):
            alpha = {"alpha": op.alpha.value.data} if op.alpha is not None else {}
            g = self.group(
                self.affine(op.input),
                self.name(op.input, "readout"),
                mode="integrate",
                beta=op.beta.value.data,
                reset="none",
                **alpha,
            )
            self.decode(op, g.output, core.Decoding.MEMBRANE)
        elif isinstance(op, snn.OutputOp):
            self.add(core.OutputOp.build(operands=[[self.values[v] for v in op.outputs]]))
        else:
            raise NmcError(f"snn-to-core: cannot lower '{op.name}'")

    def decode(self, op, src: SSAValue, kind: core.Decoding) -> None:
        out = TensorType(op.output.type.get_element_type(), op.output.type.get_shape())
        new = self.add(
            core.DecodeOp.build(
                operands=[src],
                result_types=[out],
                properties={"kind": core.DecodingAttr(kind), "latency": IntegerAttr(0, i64)},
            )
        )
        new.output.name_hint = op.output.name_hint
        self.values[op.output] = new.output


def lower_networks(module: ModuleOp, chip: Chip) -> None:
    """Replace every snn.network of `module` by its core.network for `chip`."""
    for net in [o for o in module.walk() if isinstance(o, snn.NetworkOp)]:
        new = _Lowering(net, chip).run()
        try:  # a loop the chip cannot close in time (over two populations) is the model's, said in one line
            core.verify_timing(new)
        except VerifyException as e:
            raise NmcError(f"snn-to-core: {e}") from None
        parent = net.parent_block()
        assert parent is not None
        parent.insert_op_before(new, net)
        net.detach()
        net.erase()
