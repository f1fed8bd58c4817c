"""`--target xylo`: an snn network as a SynSense Xylo configuration (chips/xylo_format.py, docs/xylo.md).

The network is first lowered to float core groups (snn-to-core: every projection composed into one synapse
list per population, loops as lagged self-reads); then each group is placed: groups that read the input or
other groups and are read by groups are **hidden** neurons (blocks of the one reservoir), groups only decoded are
**readout** neurons. Xylo delivers the input in the same tick and every neuron-to-neuron edge one tick later,
so a hidden group that reads another hidden group, and every readout, is one tick behind what it reads: the
configuration records the readout's latency and nmc pads the input with that many silent ticks. A loop must
close in one tick (a group reading itself), and a group's inputs must arrive together.

The arithmetic (docs/xylo.md): Xylo's current is `j = decay(j + W x)`, i.e. alpha times nmc's `i = alpha i + W x`, so the
weights are divided by alpha before quantization; alpha and beta become the 4-bit dashes closest to them
(`1 - 2^-dash`); per neuron one scale maps its largest weight to 127 << shift and its threshold (+1 for `>`)
into 16 bits, with one shift per matrix, the largest that keeps every threshold within 2^13 (headroom for the
membrane). Everything the device cannot hold is refused in one line naming the population, the limit and
the value.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from nmc.chips import DEFAULT_CHIP
from nmc.chips.errors import NmcError
from nmc.chips.xylo_format import DASH_MAX, DEVICE, MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES, W_MAX, XyloConfig
from nmc.dialects import core
from nmc.dialects.core_ir import read_group
from nmc.passes.snn_to_core import SnnToCorePass

THRESHOLD_ROOM = 1 << 13  # the largest integer threshold nmc writes: the 16-bit membrane keeps 4x above it


def dash(factor: float, what: str, where: str) -> int:
    """The dash `d` whose decay 1 - 2^-d is closest to `factor` (alpha or beta); refused below 0.5."""
    if factor >= 1.0:
        return DASH_MAX
    if factor < 0.5:
        raise NmcError(f"{where}: {what} = {factor:g}; Xylo decays by 1 - 2^-dash with dash >= 1 (>= 0.5): retrain with "
                       f"{what} >= 0.5")  # fmt: skip
    return int(min(max(round(-math.log2(1.0 - factor)), 1), DASH_MAX))


def realised(d: int) -> float:
    return 1.0 - 2.0**-d


ARITHMETIC = ("hidden_synapses", "weight_bits", "state_bits", "dash_bits", "input_spikes", "hidden_spikes", "output_spikes")


def _device(given: dict | None) -> dict:
    """The Xylo core compiled for: the preset's, or a chip file's xylo section that may size it differently (inputs,
    hidden, outputs, max_weight_shift) but not change its arithmetic, which nmc simulates as xylosim computes it."""
    device = dict(given or DEVICE)
    changed = [k for k in ARITHMETIC if device[k] != DEVICE[k]]
    if changed:
        raise NmcError(f"xylo.{changed[0]} {device[changed[0]]}: nmc computes Xylo's arithmetic as xylosim does "
                       f"({changed[0]} {DEVICE[changed[0]]}); a chip file may change inputs, hidden, outputs and "
                       "max_weight_shift only")  # fmt: skip
    return device


class _Placement:
    def __init__(self, net: core.NetworkOp, device: dict):
        self.net = net
        self.device = device
        block = net.body.block
        self.inputs = [op for op in block.ops if isinstance(op, core.InputOp)]
        self.groups = [op for op in block.ops if isinstance(op, core.NeuronsOp)]
        self.decoded = {op.input for op in block.ops if isinstance(op, core.DecodeOp)}
        self.decoders = [op for op in block.ops if isinstance(op, core.DecodeOp)]
        self.problems: list[str] = []  # every limit the network breaks (check-constraints' way: all, each with its fix)

    def check_input(self) -> core.InputOp:
        if len(self.inputs) != 1:
            raise NmcError(f"Xylo takes one input of spike trains; the network has {len(self.inputs)} inputs")
        inp = self.inputs[0]
        if inp.encoding.data != core.Encoding.SPIKES:
            raise NmcError(f"Xylo's inputs are spike counts per channel and tick; this network's input is '{inp.encoding.data}'-"
                           "encoded: compile a network whose input is a spike train (NIR, or --encoding spikes)")  # fmt: skip
        n, most = core.size_of(inp.output.type), self.device["inputs"]
        if n > most:
            self.problems.append(f"the network's input has {n} channels; Xylo has {most} input channels: reduce the "
                                 f"input to {most} channels (e.g. pool or select them)")  # fmt: skip
        return inp

    def roles(self) -> tuple[list[core.NeuronsOp], list[core.NeuronsOp]]:
        readers = {v for g in self.groups for v in g.inputs if v.owner is not g}
        readout = [g for g in self.groups if g.output in self.decoded and g.output not in readers]
        hidden = [g for g in self.groups if g not in readout]
        for d in self.decoders:
            if d.kind.data != core.Decoding.COUNT:
                raise NmcError(f"core.decode {d.kind.data.value}: Xylo's readout neurons give spikes; decode spike counts")
            if not isinstance(d.input.owner, core.NeuronsOp) or d.input.owner not in readout:
                raise NmcError("Xylo reads out only its readout neurons: decode the last population only")
        n_hid, n_out = sum(g.size for g in hidden), sum(g.size for g in readout)
        if not hidden:
            raise NmcError("Xylo needs a hidden population between the input and the readout; this network has none")
        max_hid, max_out = self.device["hidden"], self.device["outputs"]
        if n_hid > max_hid:
            self.problems.append(f"the network has {n_hid} hidden neurons; Xylo has {max_hid}: use fewer or smaller "
                                 "hidden layers")  # fmt: skip
        if not 1 <= n_out <= max_out:
            self.problems.append(f"the network has {n_out} output neurons; Xylo has {max_out} readout neurons: use at "
                                 f"most {max_out} classes or outputs")  # fmt: skip
        return hidden, readout


def _neuron_problem(g: core.NeuronsOp, where: str) -> str | None:
    """The first limit of Xylo's neurons the population breaks, with the fix (None: it fits)."""
    gr = read_group(g)
    if gr.mode != "spike":
        return f"{where}: a {gr.mode} group; Xylo's neurons spike (decode spike counts, not a membrane)"
    if not gr.current_based:
        return (f"{where}: a LIF population; Xylo's neurons are current-based (a synaptic current, then the membrane): "
                "train it with current-based LIF neurons (nmc.nn.CubaLIF, snnTorch Synaptic)")  # fmt: skip
    if gr.reset != "subtract":
        return f"{where}: reset '{gr.reset}'; Xylo's neurons reset by subtracting the threshold: train with reset='subtract'"
    if np.any(gr.bias != 0):
        return (f"{where}: a bias of {float(np.abs(gr.bias).max()):g}; Xylo's neurons have no bias: train without one "
                "(bias=False)")  # fmt: skip
    if np.any(gr.v_init != 0):
        return f"{where}: v_init {float(np.abs(gr.v_init).max()):g}; Xylo's neurons start at 0"
    if np.any(gr.threshold <= 0):
        return f"{where}: threshold {float(gr.threshold.min()):g}; Xylo's thresholds are positive"
    return None


def xylo_config(module: ModuleOp, name: str = "network", device: dict | None = None) -> tuple[XyloConfig, list[str]]:
    """The Xylo configuration of the module's one snn network (lowered to float core groups here) and its notes, for
    the Xylo core `device` (a chip's xylo section; the preset's by default)."""
    device = _device(device)
    lowered = module.clone()
    SnnToCorePass(chip=DEFAULT_CHIP).apply(None, lowered)  # float groups: no crossbar chip's limit plays a part
    nets = [op for op in lowered.walk() if isinstance(op, core.NetworkOp)]
    if len(nets) != 1:
        raise NmcError(f"--target xylo writes one network, the module holds {len(nets)}")
    net = nets[0]
    place = _Placement(net, device)
    inp = place.check_input()
    hidden, readout = place.roles()
    place.problems += [p for g in [*hidden, *readout] if (p := _neuron_problem(g, f"population '{g.layer.data}'"))]
    if len(place.problems) == 1:
        raise NmcError(place.problems[0])
    if place.problems:  # every limit broken, on one line
        raise NmcError(f"the network breaks {len(place.problems)} of Xylo's limits: " + "; ".join(place.problems))
    offset: dict[core.NeuronsOp, int] = {}
    at = 0
    for g in hidden:
        offset[g] = at
        at += g.size
    depth = _depths(inp, hidden, readout)
    latency = {depth[g] for g in readout}
    if len(latency) != 1:
        raise NmcError(f"the readout populations lag the input by different ticks {sorted(latency)} on Xylo; read out "
                       "populations of the same depth")  # fmt: skip
    notes: list[str] = []
    n_in, n_hid, n_out = core.size_of(inp.output.type), at, sum(g.size for g in readout)
    w_in, w_rec = np.zeros((n_in, n_hid)), np.zeros((n_hid, n_hid))
    w_out = np.zeros((n_hid, n_out))
    threshold, dash_mem, dash_syn = np.zeros(n_hid), np.zeros(n_hid, np.int64), np.zeros(n_hid, np.int64)
    threshold_out, dash_mem_out, dash_syn_out = np.zeros(n_out), np.zeros(n_out, np.int64), np.zeros(n_out, np.int64)
    out_at = 0
    for g in [*hidden, *readout]:
        gr = read_group(g)
        where = f"population '{gr.layer}'"
        d_syn, d_mem = dash(gr.alpha or 0.0, "alpha", where), dash(gr.beta if gr.beta is not None else 1.0, "beta", where)
        alpha = realised(d_syn)
        notes.append(f"Xylo: '{gr.layer}' alpha {gr.alpha:.6g} -> dash_syn {d_syn} ({alpha:.6g}), beta "
                     f"{gr.beta if gr.beta is not None else 1.0:.6g} -> dash_mem {d_mem} ({realised(d_mem):.6g})")  # fmt: skip
        most = gr.attributes["max_spikes"].value.data if "max_spikes" in gr.attributes else 1
        cap = MAX_HIDDEN_SPIKES if g in offset else MAX_OUTPUT_SPIKES
        if most != cap:
            notes.append(f"Xylo: '{gr.layer}' fires up to {most} spike(s) per tick in the model, {cap} on Xylo "
                         f"({'hidden' if g in offset else 'readout'} neurons): train it with max_spikes={cap} for the "
                         "same spikes; the decisions are measured (report.json xylo)")  # fmt: skip
        theta = gr.threshold  # a '>' comparison becomes '>=' threshold + 1 in integers (_quantize)
        offsets = gr.offsets()
        for k, v in enumerate(gr.inputs):
            sel = (gr.pre >= offsets[k]) & (gr.pre < offsets[k + 1])
            pre, post, w = gr.pre[sel] - offsets[k], gr.post[sel], gr.weight[sel] / alpha  # Xylo's current is alpha x
            if g in offset:  # a hidden neuron
                if v is inp.output:
                    w_in[pre, offset[g] + post] += w
                elif isinstance(v.owner, core.NeuronsOp) and v.owner in offset:
                    w_rec[offset[v.owner] + pre, offset[g] + post] += w
                else:
                    raise NmcError(f"{where}: reads a readout population; Xylo's readout neurons feed nothing")
            else:  # a readout neuron
                if not (isinstance(v.owner, core.NeuronsOp) and v.owner in offset):
                    raise NmcError(f"{where}: a readout population reads the input directly; Xylo's readout neurons read "
                                   "only hidden neurons: put a hidden population between")  # fmt: skip
                if v.owner is g:
                    raise NmcError(f"{where}: a readout population reads itself; Xylo's readout neurons are not recurrent")
                w_out[offset[v.owner] + pre, out_at + post] += w
        if g in offset:
            sl = slice(offset[g], offset[g] + g.size)
            threshold[sl], dash_mem[sl], dash_syn[sl] = theta, d_mem, d_syn
        else:
            sl = slice(out_at, out_at + g.size)
            threshold_out[sl], dash_mem_out[sl], dash_syn_out[sl] = theta, d_mem, d_syn
            out_at += g.size
    gt_hidden = np.concatenate([np.full(g.size, read_group(g).compare == "gt") for g in hidden])
    gt_out = np.concatenate([np.full(g.size, read_group(g).compare == "gt") for g in readout])
    (q_in, q_rec), shift_h, t_h = _quantize([w_in, w_rec], threshold, gt_hidden, device["max_weight_shift"])
    (q_out,), shift_o, t_o = _quantize([w_out], threshold_out, gt_out, device["max_weight_shift"])
    notes.append(f"Xylo: {n_in} inputs, {n_hid} hidden, {n_out} readout neurons; weight shifts {shift_h} (input, "
                 f"reservoir), {shift_o} (readout); the readout lags the model by {latency.pop()} tick(s)")  # fmt: skip
    cfg = XyloConfig(
        w_in=np.stack([q_in, np.zeros_like(q_in)], axis=2), w_rec=np.stack([q_rec, np.zeros_like(q_rec)], axis=2),
        w_out=q_out, shift_in=shift_h, shift_rec=shift_h, shift_out=shift_o, threshold=t_h, threshold_out=t_o,
        dash_mem=dash_mem, dash_syn=dash_syn, dash_syn2=dash_syn, dash_mem_out=dash_mem_out, dash_syn_out=dash_syn_out,
        dt=float(net.dt.value.data), latency=max(depth[g] for g in readout), name=name,
    )  # fmt: skip
    return cfg, notes


def _depths(inp: core.InputOp, hidden: list[core.NeuronsOp], readout: list[core.NeuronsOp]) -> dict[core.NeuronsOp, int]:
    """Each group's lag behind the model on Xylo: the input reaches hidden neurons in its tick, every neuron-to-
    neuron edge one tick later; all inputs of a group must arrive together, and a loop must close in one tick."""
    depth: dict[core.NeuronsOp, int] = {}
    for g in [*hidden, *readout]:
        arrive = []
        for v, lag in zip(g.inputs, g.lag_values, strict=True):
            if v is inp.output:
                arrive.append(0 - lag)
            elif v.owner is g:
                continue  # checked below
            else:
                src = v.owner
                if src not in depth:
                    raise NmcError(f"population '{g.layer.data}': reads '{src.layer.data}' through a loop over two "
                                   "populations, which Xylo closes a tick late")  # fmt: skip
                arrive.append(depth[src] + 1 - lag)
        if len(set(arrive)) > 1:
            raise NmcError(f"population '{g.layer.data}': its inputs reach it at different ticks on Xylo ({sorted(set(arrive))}: "
                           "the input arrives in its tick, a population's spikes a tick later): read either the input "
                           "or populations of one depth")  # fmt: skip
        depth[g] = max(arrive, default=0)
        for v, lag in zip(g.inputs, g.lag_values, strict=True):
            if v.owner is g and lag != 1:
                raise NmcError(f"population '{g.layer.data}': reads itself {lag} ticks late; Xylo's reservoir closes a "
                               "loop in one tick")  # fmt: skip
    return depth


def _quantize(
    mats: list[np.ndarray], threshold: np.ndarray, gt: np.ndarray, max_shift: int
) -> tuple[list[np.ndarray], int, np.ndarray]:
    """Integer weights (one shift for `mats`, one scale per neuron = column) and thresholds, as the module says."""
    peak = np.max([np.abs(m).max(axis=0) for m in mats], axis=0)
    peak = np.where(peak > 0, peak, 1.0)
    ratio = THRESHOLD_ROOM * peak / (W_MAX * threshold)
    shift = int(np.clip(np.floor(np.log2(ratio.min())), 0, max_shift))
    scale = np.minimum(W_MAX * 2.0**shift / peak, THRESHOLD_ROOM / threshold)
    qs = [np.clip(np.rint(m * scale / 2.0**shift), -W_MAX, W_MAX).astype(np.int64) for m in mats]
    t = np.maximum(np.rint(threshold * scale), 1).astype(np.int64) + gt.astype(np.int64)
    return qs, shift, t
