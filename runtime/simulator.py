"""The clock-driven chip simulator: runs a chip binary (and nothing else) tick by tick.

Semantics: docs/chip-model.md. Neurons are indexed by (core, slot); each tick,
spikes and partial sums of the previous tick travel through the routing tables
to the axons of their destination cores, every core's crossbar integrates its
axons, and every neuron leaks, saturates, fires and resets. Vectorized across
all cores and a batch of inputs with numpy; the array code uses only gathers,
one sparse matmul and elementwise ops, so that a torch backend could run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmc.chips.binary import BinaryError, ChipImage, read_binary
from nmc.chips.formats import COMPARES, MODES, RESETS
from nmc.runtime.encoders import Encoder


@dataclass
class SimRun:
    outputs: list[np.ndarray]
    spikes: np.ndarray | None = None  # [chip ticks, batch, neurons] when recorded
    trace: dict[str, np.ndarray] | None = None  # host inputs, every neuron's output, final membranes (trace=True)
    ticks: int = 0
    synaptic_events: int = 0
    neuron_updates: int = 0
    packets: int = 0
    stats: dict = field(default_factory=dict)


class Chip:
    """A loaded binary, ready to run batches: `Chip.load(path).run(x)`."""

    def __init__(self, image: ChipImage):
        from scipy import sparse

        self.image = image
        m = image.meta
        nrn = image.arrays["NRN "]
        ax = image.arrays["AXON"]
        syn = image.arrays["SYN "]
        self.meta = m
        self.n = nrn["core"].size
        self.ticks = int(m["ticks"])
        self.mode = nrn["mode"].astype(np.int64)
        self.threshold = nrn["threshold"].astype(np.int64)
        self.bias = nrn["bias"].astype(np.int64)
        self.v_init = nrn["v_init"].astype(np.int64)
        self.shift = nrn["shift"].astype(np.int64)
        self.reset = nrn["reset"].astype(np.int64)
        self.greater = nrn["compare"] == COMPARES.index("gt")
        self.start = nrn["start"].astype(np.int64)
        core_base = np.concatenate([[0], np.cumsum(np.bincount(nrn["core"], minlength=image.a("CORE", "x").size))])
        if not (nrn["slot"] == np.arange(self.n) - core_base[nrn["core"]]).all():
            raise BinaryError("NRN: neurons must be listed by core, slots 0..n-1")
        self.neuron_id = core_base  # first neuron id of each core
        n_axons = ax["kind"].size
        axon_core = np.repeat(np.arange(core_base.size - 1), np.diff(ax["offsets"]))
        self.axon_host = ax["kind"] == 0
        self.axon_src = ax["src"].astype(np.int64)
        self.axon_delay = ax["delay"].astype(np.int64)
        self._check_routes(axon_core, nrn)
        syn_core = np.repeat(np.arange(core_base.size - 1), np.diff(syn["offsets"]))
        rows = core_base[syn_core] + syn["slot"]
        cols = ax["offsets"][syn_core] + syn["axon"]
        self.crossbar = sparse.csr_matrix((syn["weight"].astype(np.int64), (rows, cols)), shape=(self.n, n_axons))
        self.fan_out = np.asarray((self.crossbar != 0).sum(axis=0)).ravel().astype(np.int64)
        self.mem_lo, self.mem_hi = -(1 << (m["membrane_bits"] - 1)), (1 << (m["membrane_bits"] - 1)) - 1
        self.ps_lo, self.ps_hi = -(1 << (m["partial_sum_bits"] - 1)), (1 << (m["partial_sum_bits"] - 1)) - 1
        self.latency = max((o["latency"] for o in m["outputs"]), default=0)
        self.ring = int(self.axon_delay.max(initial=0)) + 2

    @classmethod
    def load(cls, path: str | Path) -> Chip:
        return cls(read_binary(path))

    def _check_routes(self, axon_core: np.ndarray, nrn: dict) -> None:
        """Every neuron axon must be reached by its source's multicast route (or sit on the same core)."""
        rt = self.image.arrays["ROUT"]
        entry_core = np.repeat(np.arange(rt["offsets"].size - 1), np.diff(rt["offsets"]))
        entry_neuron = self.neuron_id_of(entry_core, rt["slot"])
        dest_entry = np.repeat(np.arange(rt["slot"].size), np.diff(rt["dest_offsets"]))
        reach = set(zip(entry_neuron[dest_entry].tolist(), rt["dest"].tolist(), strict=True))
        src = self.axon_src[~self.axon_host]
        dst = axon_core[~self.axon_host]
        remote = nrn["core"][src] != dst
        for s, d in zip(src[remote].tolist(), dst[remote].tolist(), strict=True):
            if (s, d) not in reach:
                raise BinaryError(f"neuron {s} feeds an axon of core {d}, but no routing-table entry sends its spikes there")

    def neuron_id_of(self, core: np.ndarray, slot: np.ndarray) -> np.ndarray:
        return self.neuron_id[core] + slot

    def run(self, inputs: np.ndarray | Sequence[np.ndarray], *, record: bool = False, trace: bool = False) -> SimRun:
        """Run a batch (one array [batch, *shape] per network input) for ticks + latency chip ticks.

        `trace` also keeps, per chip tick, the host input values and every neuron's output
        (spike or partial sum) and the final membranes: the stimulus and expectation of RTL testbenches.
        """
        m = self.meta
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(arrays) != m["n_inputs"]:
            raise BinaryError(f"the network takes {m['n_inputs']} input(s), got {len(arrays)}")
        batch = arrays[0].shape[0]
        encoders = []
        for spec in m["inputs"]:
            x = np.asarray(arrays[spec["arg"]], dtype=np.float32)
            if list(x.shape[1:]) != spec["shape"]:
                raise BinaryError(f"input #{spec['arg']} has shape {list(x.shape[1:])} per sample, expected {spec['shape']}")
            encoders.append(Encoder(spec["encoding"], x, spec["scale"], spec["seed"], spec["levels"], np.float32))
        total = self.ticks + self.latency
        v = np.broadcast_to(self.v_init, (batch, self.n)).copy()
        out_hist = np.zeros((self.ring, batch, self.n), np.int64)
        host_width = sum(int(np.prod(s["shape"])) for s in m["inputs"])
        in_hist = np.zeros((self.ring, batch, host_width), np.int64)
        spike_mode = self.mode == MODES.index("spike")
        psum_mode = self.mode == MODES.index("psum")
        integrate_mode = self.mode == MODES.index("integrate")
        subtract = self.reset == RESETS.index("subtract")
        zero = self.reset == RESETS.index("zero")
        decode = _Decoders(self, batch)
        recorded = []
        traced_host, traced_out = [], []
        events = updates = packets = 0
        host_axons = np.nonzero(self.axon_host)[0]
        nrn_axons = np.nonzero(~self.axon_host)[0]
        for tick in range(total):
            slot = tick % self.ring
            if tick < self.ticks:
                in_hist[slot] = np.concatenate([e.step().astype(np.int64) for e in encoders], axis=1) if encoders else 0
            else:
                in_hist[slot] = 0
            axons = np.zeros((batch, self.axon_src.size), np.int64)
            t_host = tick - self.axon_delay[host_axons]
            ok = t_host >= 0
            if ok.any():
                axons[:, host_axons[ok]] = in_hist[t_host[ok] % self.ring, :, self.axon_src[host_axons[ok]]].T
            t_nrn = tick - 1 - self.axon_delay[nrn_axons]
            ok = t_nrn >= 0
            if ok.any():
                axons[:, nrn_axons[ok]] = out_hist[t_nrn[ok] % self.ring, :, self.axon_src[nrn_axons[ok]]].T
            current = (self.crossbar @ axons.T).T + self.bias
            active = self.start <= tick
            decayed = np.where(self.shift > 0, v - (v >> self.shift), v)
            v_new = np.clip(decayed + current, self.mem_lo, self.mem_hi)
            fired = np.where(self.greater, v_new > self.threshold, v_new >= self.threshold) & spike_mode & active
            v_new = np.where(fired & subtract, v_new - self.threshold, v_new)
            v_new = np.where(fired & zero, 0, v_new)
            v = np.where(active & (spike_mode | integrate_mode), v_new, v)
            out = np.where(psum_mode & active, np.clip(current, self.ps_lo, self.ps_hi), fired.astype(np.int64))
            out_hist[slot] = out
            events += int(((axons != 0) @ self.fan_out).sum())
            updates += int(active.sum()) * batch
            packets += int(np.count_nonzero(out))
            decode.step(tick, out, v)
            if record:
                recorded.append(fired.astype(np.uint8))
            if trace:
                traced_host.append(in_hist[slot].copy())
                traced_out.append(out.copy())
        run = SimRun(decode.results(v), np.stack(recorded) if record else None, total, events, updates, packets)
        if trace:
            run.trace = {"host": np.stack(traced_host), "out": np.stack(traced_out), "v": v.copy()}
        return run


class _Decoders:
    def __init__(self, chip: Chip, batch: int):
        self.chip, self.batch = chip, batch
        self.specs = chip.meta["outputs"]
        self.ids = [chip.image.arrays["OUT "][f"neurons{i}"].astype(np.int64) for i in range(len(self.specs))]
        self.acc = []
        for spec, ids in zip(self.specs, self.ids, strict=True):
            init = float(chip.ticks) if spec["kind"] == "first_spike" else 0.0
            self.acc.append(np.full((batch, ids.size), init))

    def step(self, tick: int, out: np.ndarray, v: np.ndarray) -> None:
        ticks = self.chip.ticks
        for spec, ids, acc in zip(self.specs, self.ids, self.acc, strict=True):
            t = tick - spec["latency"]
            if not 0 <= t < ticks:
                continue
            if spec["kind"] == "count":
                acc += out[:, ids]
            elif spec["kind"] == "first_spike":
                acc[:] = np.where((acc == ticks) & (out[:, ids] > 0), float(t), acc)

    def results(self, v: np.ndarray) -> list[np.ndarray]:
        outs = []
        for i, (spec, ids, acc) in enumerate(zip(self.specs, self.ids, self.acc, strict=True)):
            if spec["kind"] == "membrane":
                acc = v[:, ids].astype(np.float64) * self.chip.image.arrays["OUT "][f"scale{i}"]
            outs.append(acc.reshape((self.batch, *spec["shape"])).astype(np.float32))
        return outs
