"""The clock-driven chip simulator: runs a chip binary (and nothing else) tick by tick.

Semantics: docs/chip-model.md. Neurons are indexed by (core, slot); each tick, spikes and
partial sums of the previous tick travel through the routing tables to the axons of their
destination cores, every core's crossbar integrates its axons, and every neuron leaks,
saturates, fires and resets. Bit-exact with the core interpreter, and fast:

* exact narrow arithmetic: every value is an integer, so float32 (float64) reproduces int64
  exactly while every operand and partial sum stays below 2**24 (2**53). `_value_bound` proves
  that bound from the binary (weights, widths) and the input, and picks the narrowest type;
* dense per-core crossbar blocks, batched through BLAS (a core is a dense A x N array);
  cores whose block is mostly empty go to one sparse matrix;
* int8 GEMMs (int32 sums) for blocks whose weights and axon values fit int8 (torch's kernel);
* event-driven ticks: when few axons carry a value, only their synapses are touched;
* partial-sum units take a cheap path (clip and forward), only firing neurons hold state;
* copy relays (a spike repeated one tick later) are read through, not simulated (runtime/sim_relays.py);
* the same loop runs on numpy or torch (CPU, CUDA): runtime/sim_backend.py.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nmc.chips.binary import BinaryError, ChipImage, read_binary
from nmc.chips.formats import COMPARES, MODES, signed_range
from nmc.runtime.encoders import Encoder
from nmc.runtime.sim_loop import run_loop
from nmc.runtime.sim_run import SimRun


class _Transposed:
    """An encoder whose `step()` gives (inputs, batch)."""

    def __init__(self, encoder: Encoder, batch_major: bool):
        self.encoder, self.batch_major, self.kind = encoder, batch_major, encoder.kind

    def step(self) -> np.ndarray:
        s = self.encoder.step()
        return np.ascontiguousarray(s.T) if self.batch_major else s


class Chip:
    """A loaded binary, ready to run batches: `Chip.load(path).run(x)`."""

    def __init__(self, image: ChipImage):
        self.image = image
        m = self.meta = image.meta
        nrn, ax, syn = image.arrays["NRN "], image.arrays["AXON"], image.arrays["SYN "]
        self.n = n = nrn["core"].size
        self.ticks = int(m["ticks"])
        n_cores = image.a("CORE", "x").size
        core_base = np.concatenate([[0], np.cumsum(np.bincount(nrn["core"], minlength=n_cores))])
        if not (nrn["slot"] == np.arange(n) - core_base[nrn["core"]]).all():
            raise BinaryError("NRN: neurons must be listed by core, slots 0..n-1")
        self.neuron_id = core_base
        self.mode = nrn["mode"].astype(np.int64)
        self.threshold = nrn["threshold"].astype(np.int64)
        self.bias = nrn["bias"].astype(np.int64)
        self.v_init = nrn["v_init"].astype(np.int64)
        self.shift = nrn["shift"].astype(np.int64)
        self.mult = nrn["mult"].astype(np.int64)  # leak V -= (V * mult) >> shift; 1: the shift leak
        # a current-based neuron's synaptic current decays I -= (I * cmult) >> cshift; cmult 0: no current
        self.cshift, self.cmult = nrn["cshift"].astype(np.int64), nrn["cmult"].astype(np.int64)
        self.cuba = self.cmult > 0
        self.reset = nrn["reset"].astype(np.int64)
        self.greater = nrn["compare"] == COMPARES.index("gt")
        self.start = nrn["start"].astype(np.int64)
        self.n_axons = ax["kind"].size
        self.axon_core = np.repeat(np.arange(n_cores), np.diff(ax["offsets"]))
        self.axon_host = ax["kind"] == 0
        self.axon_src = ax["src"].astype(np.int64)
        self.axon_delay = ax["delay"].astype(np.int64)
        self.remote = self._check_routes(nrn)
        syn_core = np.repeat(np.arange(n_cores), np.diff(syn["offsets"]))
        self.syn_row = core_base[syn_core] + syn["slot"]
        self.syn_col = ax["offsets"][syn_core] + syn["axon"]
        self.syn_weight = syn["weight"].astype(np.int64)
        self.fan_out = np.bincount(self.syn_col[self.syn_weight != 0], minlength=self.n_axons).astype(np.float64)
        self.mem_lo, self.mem_hi = signed_range(m["membrane_bits"])
        self.ps_lo, self.ps_hi = signed_range(m["partial_sum_bits"])
        self.latency = max((o["latency"] for o in m["outputs"]), default=0)
        self.ring = int(self.axon_delay.max(initial=0)) + 2
        self.psum = np.nonzero(self.mode == MODES.index("psum"))[0]
        self.stateful = np.nonzero(self.mode != MODES.index("psum"))[0]  # spike and integrate neurons keep V
        self.host_width = sum(int(np.prod(s["shape"])) for s in m["inputs"])

    @classmethod
    def load(cls, path: str | Path) -> Chip:
        return cls(read_binary(path))

    def _check_routes(self, nrn: dict) -> np.ndarray:
        """Every neuron axon must be reached by its source's multicast route; returns remote destinations per neuron."""
        rt = self.image.arrays["ROUT"]
        entry_core = np.repeat(np.arange(rt["offsets"].size - 1), np.diff(rt["offsets"]))
        entry_neuron = self.neuron_id[entry_core] + rt["slot"]
        dests = np.diff(rt["dest_offsets"])
        remote = np.zeros(self.n, np.float64)
        np.add.at(remote, entry_neuron, dests)
        dest_entry = np.repeat(np.arange(rt["slot"].size), dests)
        reach = set(zip(entry_neuron[dest_entry].tolist(), rt["dest"].tolist(), strict=True))
        src, dst = self.axon_src[~self.axon_host], self.axon_core[~self.axon_host]
        far = nrn["core"][src] != dst
        for s, d in zip(src[far].tolist(), dst[far].tolist(), strict=True):
            if (s, d) not in reach:
                raise BinaryError(f"neuron {s} feeds an axon of core {d}, but no routing-table entry sends its spikes there")
        return remote

    # ------------------------------------------------------------------ exactness

    def _value_bound(self, host_bound: float) -> float:
        """The largest magnitude any quantity of a tick reaches (docs/chip-model.md): an axon value, a partial
        sum of a current (at most the current's bound C), or the membrane plus its current. A membrane held
        between ticks is clipped to the membrane range, or a reset value: 0, or v - thr with v >= thr (at most
        the range's top plus a negative threshold's magnitude), or its start value; thresholds (+1 for >) are
        compared to, and subtracted from, it."""
        out, current = self.value_bounds(host_bound)
        axon_bound = np.where(self.axon_host, host_bound, out[np.where(self.axon_host, 0, self.axon_src)])
        thr = np.abs(self.threshold).max(initial=0)
        held = max(-self.mem_lo, self.mem_hi + max(0, -int(self.threshold.min(initial=0))),
                   float(np.abs(self.v_init).max(initial=0)))  # fmt: skip
        leak = held * float(self.mult.max(initial=1))  # the multiply leak's product V * mult
        if self.cuba.any():  # a synaptic current is held in the membrane's range, then added to V like a tick's input
            i_held = float(max(-self.mem_lo, self.mem_hi))
            current = np.maximum(current, i_held + current)
            leak = max(leak, i_held * float(self.cmult.max(initial=1)))
        return max(held + max(float(current.max(initial=0)), thr + 1.0), float(axon_bound.max(initial=0)), leak)

    def value_bounds(self, host_bound: float) -> tuple[np.ndarray, np.ndarray]:
        """Per neuron: the largest magnitude of its output (a spike is 1; a partial sum at most its
        unit's own input bound and the partial-sum width, propagated through the partial-sum trees
        until it no longer shrinks) and of the current it integrates in a tick (Σ |w| * input bound
        + |bias|): every partial sum of that current's terms is below it too."""
        out = np.ones(self.n)
        out[self.psum] = -self.ps_lo
        src = np.where(self.axon_host, 0, self.axon_src)
        weight = np.abs(self.syn_weight).astype(np.float64)
        for _ in range(64):
            axon_bound = np.where(self.axon_host, host_bound, out[src])
            current = np.bincount(self.syn_row, weight * axon_bound[self.syn_col], minlength=self.n) + np.abs(self.bias)
            shrunk = out.copy()
            shrunk[self.psum] = np.minimum(-self.ps_lo, current[self.psum])
            if np.array_equal(shrunk, out):
                break
            out = shrunk
        return out, current

    @staticmethod
    def exact_dtype(bound: float) -> np.dtype:
        """float32 while every integer stays below 2**24 (its mantissa), float64 below 2**53, else int64."""
        if bound < 2**24:
            return np.dtype(np.float32)
        return np.dtype(np.float64) if bound < 2**53 else np.dtype(np.int64)

    # ------------------------------------------------------------------ running

    def run(
        self,
        inputs: np.ndarray | Sequence[np.ndarray],
        *,
        record: bool = False,
        trace: bool = False,
        device: str = "numpy",
    ) -> SimRun:
        """Run a batch (one array [batch, *shape] per network input) for ticks + latency chip ticks.

        `device`: "numpy" (default), or "cpu"/"cuda" for the torch backend: identical results.
        `trace` also keeps, per chip tick, the host input values and every neuron's output
        (spike or partial sum) and the final membranes: the stimulus and expectation of RTL testbenches.
        """
        m = self.meta
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(arrays) != m["n_inputs"]:
            raise BinaryError(f"the network takes {m['n_inputs']} input(s), got {len(arrays)}")
        batch = arrays[0].shape[0]
        encoders = []
        host_bound = 1.0
        chip = self
        for spec in m["inputs"]:
            x = np.asarray(arrays[spec["arg"]], dtype=np.float32)
            if spec["encoding"] == "spikes":  # a spike train [batch, ticks, *shape]: the run lasts as long as it
                if x.ndim < 2 or list(x.shape[2:]) != spec["shape"]:
                    raise BinaryError(
                        f"input #{spec['arg']} has shape {list(x.shape[1:])} per sample, expected [ticks, "
                        f"{', '.join(map(str, spec['shape']))}] (a spike train)"
                    )
                if x.shape[1] != chip.ticks:
                    chip = copy.copy(self)
                    chip.ticks = x.shape[1]
                encoders.append(_Transposed(Encoder("spikes", x, 1.0, 0, None, np.float32), True))
                continue
            if list(x.shape[1:]) != spec["shape"]:
                raise BinaryError(f"input #{spec['arg']} has shape {list(x.shape[1:])} per sample, expected {spec['shape']}")
            if spec["encoding"] == "direct":
                levels = spec["levels"]
                peak = levels if levels is not None else float(np.abs(x).max(initial=0)) * abs(spec["scale"]) + 1
                host_bound = max(host_bound, float(peak))
            # the loop keeps (inputs, batch); Poisson draws keep the batch-major order the core interpreter uses
            flat = x.reshape(batch, -1)
            src = flat if spec["encoding"] == "poisson" else np.ascontiguousarray(flat.T)
            encoders.append(_Transposed(Encoder(spec["encoding"], src, spec["scale"], spec["seed"], spec["levels"], np.float32),
                                        spec["encoding"] == "poisson"))  # fmt: skip
        dtype = self.exact_dtype(self._value_bound(host_bound))
        return run_loop(chip, encoders, batch, dtype, device, record=record, trace=trace, host_bound=host_bound)
