"""`--target nir`: the snn level as a NIR graph (nir 1.0), for snnTorch, Norse, Sinabs, ... to load.

The inverse of nmc's NIR import rule (docs/nir.md): a LIF with decay `beta` is written
as `tau = dt / (1 - beta)` and `r = tau / dt` (unit input gain), `v_leak = 0`,
`v_reset = 0`; `tau` is the float32 value from which `1 - dt/tau` (the importers'
float32 arithmetic) gives back `beta` exactly, so a round trip keeps every spike. NIR
cannot say "reset by subtraction", "fire at v >= threshold", rate or Poisson encoders,
or reshapes: such networks are refused by name, not written approximately.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from nmc.chips.errors import NmcError
from nmc.dialects import snn
from nmc.dialects.ir_arrays import to_numpy


def float32_tau(beta: float, dt: float) -> np.float32:
    """The float32 tau with `1 - dt/tau == beta` in float32 arithmetic (as NIR importers compute beta)."""
    target = np.float32(beta)
    tau = np.float32(dt / (1.0 - float(beta)))
    for _ in range(64):
        got = np.float32(1) - np.float32(dt) / tau
        if got == target:
            return tau
        # beta too small -> dt/tau too large -> tau too small
        tau = np.nextafter(tau, np.float32(np.inf) if got < target else np.float32(0))
    raise NmcError(f"no float32 tau gives beta = {beta!r} exactly at dt = {dt:g} s")


class _Export:
    def __init__(self, net: snn.NetworkOp):
        self.net = net
        self.dt = net.dt.value.data
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.sources: dict[SSAValue, list[str]] = {}  # a value = the sum of these nodes' outputs
        self.count = 0
        self.loops = snn.back_edge_delays(net.body.block)
        self.pending: dict[str, SSAValue] = {}  # a back edge's stand-in node name -> the population it reads

    def close_loops(self) -> None:
        """Point every edge out of a back edge's stand-in at the population it reads (built after it)."""
        edges: list[tuple[str, str]] = []
        for a, b in self.edges:
            edges += [(s, b) for s in self.sources[self.pending[a]]] if a in self.pending else [(a, b)]
        self.edges = edges

    def name(self, v: SSAValue, kind: str) -> str:
        self.count += 1
        base = v.name_hint or f"{kind}{self.count}"
        return base if base not in self.nodes else f"{base}_{self.count}"

    def node(self, v: SSAValue, kind: str, node: Any, inputs: list[SSAValue]) -> None:
        n = self.name(v, kind)
        self.nodes[n] = node
        for src in inputs:
            self.edges += [(s, n) for s in self.sources[src]]
        self.sources[v] = [n]

    def lower(self, op: Any) -> None:
        import nir

        where = f"{op.name} %{op.results[0].name_hint}" if op.results else op.name
        if isinstance(op, snn.EncodeSpikesOp):
            self.node(op.output, "input", nir.Input(input_type={"input": np.array(snn.shape_of(op.output.type))}), [])
        elif isinstance(op, snn.ENCODER_OPS):
            raise NmcError(
                f"{where}: NIR graphs take spike trains; a '{op.name[len('snn.encode_') :]}' encoder has no NIR form "
                "(compile a spiking network whose input is a spike train, e.g. from NIR)"
            )
        elif isinstance(op, snn.DenseOp):
            w = to_numpy(op.weights).astype(np.float32)
            b = None if op.bias is None else to_numpy(op.bias).astype(np.float32)
            node = nir.Linear(weight=w) if b is None else nir.Affine(weight=w, bias=b)
            self.node(op.output, "affine", node, [op.input])
        elif isinstance(op, snn.Conv2dOp):
            w = to_numpy(op.weights).astype(np.float32)
            _, h, wd = snn.shape_of(op.input.type)
            b = to_numpy(op.bias).astype(np.float32) if op.bias is not None else np.zeros(w.shape[0], np.float32)
            node = nir.Conv2d(
                input_shape=(h, wd), weight=w, stride=tuple(op.stride.get_values()), padding=tuple(op.padding.get_values()),
                dilation=(1, 1), groups=1, bias=b,
            )  # fmt: skip
            self.node(op.output, "conv", node, [op.input])
        elif isinstance(op, snn.Pool2dOp):
            kernel, stride = np.array(op.kernel.get_values()), np.array(op.stride.get_values())
            cls = nir.AvgPool2d if op.kind.data == snn.PoolKind.AVG else nir.SumPool2d
            self.node(op.output, "pool", cls(kernel_size=kernel, stride=stride, padding=np.zeros(2, int)), [op.input])
        elif isinstance(op, snn.FlattenOp):
            node = nir.Flatten(input_type={"input": np.array(snn.shape_of(op.input.type))}, start_dim=0, end_dim=-1)
            self.node(op.output, "flatten", node, [op.input])
        elif isinstance(op, snn.DelayOp) and op in self.loops:  # NIR's loop itself waits the first tick
            token = f"<loop {len(self.pending)}>"
            self.pending[token] = op.input
            self.sources[op.output] = [token]
            if op.ticks.value.data > 1:
                shape = snn.shape_of(op.output.type)
                node = nir.Delay(delay=np.full(shape, (op.ticks.value.data - 1) * self.dt, np.float32))
                self.node(op.output, "delay", node, [op.output])
        elif isinstance(op, snn.DelayOp):
            shape = snn.shape_of(op.output.type)
            node = nir.Delay(delay=np.full(shape, op.ticks.value.data * self.dt, np.float32))
            self.node(op.output, "delay", node, [op.input])
        elif isinstance(op, snn.AddOp):
            self._add(op)
        elif isinstance(op, snn.IFOp | snn.LIFOp | snn.CubaLIFOp):
            self._neuron(op, where)
        elif isinstance(op, snn.DecodeCountOp | snn.DecodeFirstSpikeOp | snn.DecodeMembraneOp):
            self._output(op)
        elif not isinstance(op, snn.OutputOp):
            raise NmcError(f"{where}: has no NIR form (NIR has no {op.name[4:]} node)")

    def _add(self, op: snn.AddOp) -> None:
        import nir

        sources: list[str] = []
        for v, s in zip(op.inputs, op.scales.get_values(), strict=True):
            if s == 1.0:
                sources += self.sources[v]
                continue
            n = self.name(op.output, "scale")
            self.nodes[n] = nir.Scale(scale=np.full(snn.shape_of(v.type), s, np.float32))
            self.edges += [(src, n) for src in self.sources[v]]
            sources.append(n)
        self.sources[op.output] = sources  # NIR sums every edge into a node

    def _neuron(self, op: snn.IFOp | snn.LIFOp | snn.CubaLIFOp, where: str) -> None:
        import nir

        if op.spikes_per_tick > 1:
            raise NmcError(f"{where}: up to {op.spikes_per_tick} spikes per tick; a NIR neuron spikes once: max_spikes=1")
        if op.reset.data != snn.ResetMode.ZERO or op.compare.data != snn.Compare.GT:
            raise NmcError(
                f"{where}: reset '{op.reset.data.value}', fire at '{op.compare.data.value}'; NIR neurons fire at "
                "v > threshold and reset to v_reset, so only reset = zero, compare = gt has a NIR form "
                "(train with those, e.g. nmc.nn.LIF(reset='zero', compare='gt'))"
            )
        if op.v_init.value.data != 0:
            raise NmcError(f"{where}: v_init = {op.v_init.value.data:g}; NIR neurons start at 0")
        shape = snn.shape_of(op.output.type)
        theta = np.full(shape, op.threshold.value.data, np.float32)
        zeros = np.zeros(shape, np.float32)
        beta = op.beta.value.data if isinstance(op, snn.LIFOp | snn.CubaLIFOp) else 1.0
        if isinstance(op, snn.CubaLIFOp):  # tau_syn, tau_mem with 1 - dt/tau = alpha, beta in float32; unit gains
            alpha = op.alpha.value.data
            if not (0.0 < alpha < 1.0 and 0.0 < beta < 1.0):
                raise NmcError(f"{where}: alpha = {alpha:g}, beta = {beta:g}; a NIR CubaLIF needs both in (0, 1) (finite "
                               "time constants)")  # fmt: skip
            tau_syn, tau_mem = float32_tau(alpha, self.dt), float32_tau(beta, self.dt)
            node = nir.CubaLIF(
                tau_syn=np.full(shape, tau_syn, np.float32), tau_mem=np.full(shape, tau_mem, np.float32),
                r=np.full(shape, tau_mem / np.float32(self.dt), np.float32), v_leak=zeros, v_threshold=theta,
                v_reset=zeros, w_in=np.full(shape, tau_syn / np.float32(self.dt), np.float32),
            )  # fmt: skip
        elif beta == 0.0:
            node = nir.Threshold(threshold=theta)
        elif beta == 1.0:  # dv/dt = r I, r = 1/dt: unit gain per tick
            node = nir.IF(r=np.full(shape, 1.0 / self.dt, np.float32), v_threshold=theta, v_reset=zeros)
        else:
            tau = float32_tau(beta, self.dt)
            node = nir.LIF(
                tau=np.full(shape, tau, np.float32), r=np.full(shape, tau / np.float32(self.dt), np.float32),
                v_leak=zeros, v_threshold=theta, v_reset=zeros,
            )  # fmt: skip
        self.node(op.output, "lif", node, [op.input])

    def _output(self, op: Any) -> None:
        import nir

        src = op.input
        if isinstance(op, snn.DecodeMembraneOp):
            shape = snn.shape_of(src.type)
            beta = op.beta.value.data
            if op.alpha is not None:  # a current-based integrator: CubaLI with unit gains, as CubaLIF is written
                alpha = op.alpha.value.data
                if not (0.0 < alpha < 1.0 and 0.0 < beta < 1.0):
                    raise NmcError(f"{op.name}: alpha = {alpha:g}, beta = {beta:g}; a NIR CubaLI needs both in (0, 1)")
                tau_syn, tau_mem = float32_tau(alpha, self.dt), float32_tau(beta, self.dt)
                full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
                integ = nir.CubaLI(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / np.float32(self.dt)),
                                   v_leak=full(0.0), w_in=full(tau_syn / np.float32(self.dt)))  # fmt: skip
            elif beta == 1.0:
                integ = nir.I(r=np.full(shape, 1.0 / self.dt, np.float32))
            else:
                tau = float32_tau(beta, self.dt)
                integ = nir.LI(tau=np.full(shape, tau, np.float32), r=np.full(shape, tau / np.float32(self.dt), np.float32),
                               v_leak=np.zeros(shape, np.float32))  # fmt: skip
            self.node(op.output, "readout", integ, [src])
            src = op.output
        self.node(op.output, "output", nir.Output(output_type={"output": np.array(snn.shape_of(op.input.type))}), [src])


def nir_graph(module: ModuleOp) -> Any:
    """The NIR graph of the module's one snn.network (dt in its metadata)."""
    import nir

    nets = [op for op in module.walk() if isinstance(op, snn.NetworkOp)]
    if len(nets) != 1:
        raise NmcError(f"--target nir writes one snn.network, the module holds {len(nets)} (use --level snn IR)")
    ex = _Export(nets[0])
    for op in nets[0].body.block.ops:
        ex.lower(op)
    ex.close_loops()
    return nir.NIRGraph(nodes=ex.nodes, edges=ex.edges, metadata={"dt": ex.dt})
