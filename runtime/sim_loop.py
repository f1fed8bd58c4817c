"""The simulator's tick loop and its precomputed tables (see runtime/simulator.py for the plan).

Internal layout: neurons are renumbered so that the stateful ones (spike, integrate) come
first and partial-sum units last, so each kind is a contiguous slice; axons are renumbered
so that the axons of each dense core form a padded row of `A` slots (the batched matmul
reads them as a view), then the axons of sparse cores, then one slot that is always zero.
Outputs, records and traces are mapped back to the binary's numbering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nmc.chips.formats import MODES, RESETS

if TYPE_CHECKING:
    from nmc.runtime.encoders import Encoder
    from nmc.runtime.simulator import Chip, SimRun


@dataclass
class Tables:
    """Everything a run needs, in internal numbering, as backend arrays."""

    order: np.ndarray  # internal neuron -> binary neuron
    n_state: int  # neurons [0, n_state) keep a membrane; the rest are partial-sum units
    dense: Any  # (cores, A, N) weights of dense cores, or None
    dense_rows: np.ndarray  # (cores * N,) internal neuron of each dense output slot (n = padding)
    n_dense_axons: int  # cores * A
    dense_shape: tuple[int, int, int]
    sparse: Any  # sparse (n, n_axon_slots) matrix of the sparse cores, or None
    events: Any  # sparse (n_axon_slots, n) matrix of every synapse (numpy backend), or None
    gathers: list[tuple[bool, int, Any, Any]]  # (from host, delay, axon slots, source index)
    fan_out: Any  # synapses per axon slot
    remote: Any  # remote destination cores per internal neuron
    params: dict[str, Any]


def build_tables(chip: Chip, backend: Any, dense_min: float, event_driven: bool) -> Tables:
    n = chip.n
    order = np.concatenate([chip.stateful, chip.psum])
    internal = np.empty(n, np.int64)
    internal[order] = np.arange(n)
    n_cores = chip.neuron_id.size - 1
    ax_off = np.concatenate([[0], np.cumsum(np.bincount(chip.axon_core, minlength=n_cores))])
    syn_core = chip.axon_core[chip.syn_col] if chip.syn_col.size else np.zeros(0, np.int64)
    nnz = np.bincount(syn_core, minlength=n_cores)
    size_n, size_a = np.diff(chip.neuron_id), np.diff(ax_off)
    is_dense = nnz >= dense_min * np.maximum(size_n * size_a, 1)
    is_dense &= nnz > 0
    dense_cores = np.nonzero(is_dense)[0]
    a_max = int(size_a[dense_cores].max(initial=0))
    n_max = int(size_n[dense_cores].max(initial=0))
    # axon slots: dense cores first (padded rows of a_max), then sparse-core axons, then the zero slot
    slot = np.empty(chip.n_axons, np.int64)
    dense_index = np.full(n_cores, -1)
    dense_index[dense_cores] = np.arange(dense_cores.size)
    on_dense = is_dense[chip.axon_core]
    local_axon = np.arange(chip.n_axons) - ax_off[chip.axon_core]
    slot[on_dense] = dense_index[chip.axon_core[on_dense]] * a_max + local_axon[on_dense]
    n_dense_axons = dense_cores.size * a_max
    slot[~on_dense] = n_dense_axons + np.arange(int((~on_dense).sum()))
    n_slots = n_dense_axons + int((~on_dense).sum()) + 1
    s_dense = is_dense[syn_core]
    dense = None
    dense_rows = np.full(dense_cores.size * n_max, n, np.int64)
    if dense_cores.size:
        w3 = np.zeros((dense_cores.size, a_max, n_max))
        k = dense_index[syn_core[s_dense]]
        local_n = chip.syn_row[s_dense] - chip.neuron_id[syn_core[s_dense]]
        w3[k, local_axon[chip.syn_col[s_dense]], local_n] = chip.syn_weight[s_dense]
        dense = backend.asarray(w3)
        for j, c in enumerate(dense_cores):
            ids = np.arange(chip.neuron_id[c], chip.neuron_id[c + 1])
            dense_rows[j * n_max : j * n_max + ids.size] = internal[ids]
    rows, cols, weights = internal[chip.syn_row], slot[chip.syn_col], chip.syn_weight
    sparse = None
    if (~s_dense).any():
        sparse = backend.sparse_matrix(rows[~s_dense], cols[~s_dense], weights[~s_dense], (n, n_slots))
    events = backend.sparse_matrix(cols, rows, weights, (n_slots, n)) if event_driven else None
    fan_out = np.zeros(n_slots)
    fan_out[slot] = chip.fan_out
    gathers = []
    for host in (True, False):
        for d in np.unique(chip.axon_delay[chip.axon_host == host]).tolist():
            sel = (chip.axon_host == host) & (chip.axon_delay == d)
            src = chip.axon_src[sel] if host else internal[chip.axon_src[sel]]
            gathers.append((host, int(d), backend.asarray(slot[sel], np.int64), backend.asarray(src, np.int64)))
    p = order
    shift = chip.shift[p]
    params = {
        "threshold": chip.threshold[p], "bias": chip.bias[p], "v_init": chip.v_init[p],
        "inv": 2.0 ** -shift.astype(np.float64), "shift": shift, "decays": shift > 0,
        "greater": chip.greater[p], "subtract": chip.reset[p] == RESETS.index("subtract"),
        "zero": chip.reset[p] == RESETS.index("zero"), "fires": chip.mode[p] == MODES.index("spike"),
        "start": chip.start[p],
    }  # fmt: skip
    k_state = chip.stateful.size
    on = {}
    for key, val in params.items():
        v = val[:k_state] if key not in ("bias", "start") else val
        on[key] = backend.asarray(v, np.bool_ if v.dtype == np.bool_ else (np.int64 if key == "shift" else None))
    on["start_state"] = on["start"][:k_state]
    on["start_psum"] = on["start"][k_state:]
    return Tables(order, k_state, dense, dense_rows, n_dense_axons, (dense_cores.size, a_max, n_max), sparse, events,
                  gathers, backend.asarray(fan_out, np.float64), backend.asarray(chip.remote[order], np.float64), on)  # fmt: skip


def make_backend(dtype: np.dtype, device: str) -> Any:
    from nmc.runtime.sim_backend import NumpyBackend, TorchBackend

    return NumpyBackend(dtype) if device == "numpy" else TorchBackend(dtype, device)


def run_loop(
    chip: Chip, encoders: list[Encoder], batch: int, dtype: np.dtype, device: str, *, record: bool, trace: bool
) -> SimRun:
    from nmc.runtime.simulator import DENSE_BLOCK_MIN, EVENT_DENSITY, SimRun

    bk = make_backend(dtype, device)
    key = (bk.name, str(dtype))
    cache = chip.__dict__.setdefault("_tables", {})
    if key not in cache:
        # torch: every core dense (GPU GEMMs, no sparse kernels needed for int64); numpy: sparse cores and events too
        cache[key] = build_tables(chip, bk, DENSE_BLOCK_MIN if bk.name == "numpy" else 0.0, bk.name == "numpy")
    t: Tables = cache[key]
    n, k = chip.n, t.n_state
    prm = t.params
    total = chip.ticks + chip.latency
    ring = chip.ring
    v = bk.zeros((batch, k)) + prm["v_init"]
    out_hist = bk.zeros((ring, batch, n + 1))  # last column: the padding target of dense outputs
    in_hist = bk.zeros((ring, batch, max(chip.host_width, 1)))
    decode = _Decoders(chip, t, bk, batch)
    recorded, traced_host, traced_out = [], [], []
    events = packets = 0.0
    updates = 0
    event_ticks = 0
    max_start = int(chip.start.max(initial=0))
    c, a_max, _n_max = t.dense_shape
    n_slots = int(t.fan_out.shape[0])
    lo, hi = chip.mem_lo, chip.mem_hi
    for tick in range(total):
        r = tick % ring
        if tick < chip.ticks and encoders:
            step = np.concatenate([np.trunc(e.step().astype(np.float64)) for e in encoders], axis=1)
            in_hist[r] = bk.asarray(step)
        else:
            in_hist[r] = 0
        x = bk.zeros((batch, n_slots))
        for host, d, slots, src in t.gathers:
            back = tick - d if host else tick - 1 - d
            if back >= 0:
                x[:, slots] = (in_hist if host else out_hist)[back % ring][:, src]
        active_count = bk.count(x)
        if t.events is not None and active_count < EVENT_DENSITY * x.shape[0] * x.shape[1]:
            cur = bk.asarray(bk.events(x, t.events))
            event_ticks += 1
        else:
            cur = bk.zeros((batch, n + 1))
            if t.dense is not None:
                res = _dense_input(x, t, batch, c, a_max) @ t.dense  # (cores, batch, N): one GEMM per core
                cur[:, t.dense_rows] = _flat(res)
            if t.sparse is not None:
                cur[:, :n] += bk.spmm_right(x, t.sparse)
            cur = cur[:, :n]
        cur = cur + prm["bias"]
        if active_count:
            events += bk.dot_counts(x != 0, t.fan_out)
        # partial-sum units: forward the clipped sum, keep no state
        out = bk.zeros((batch, n + 1))
        ps = bk.clip(cur[:, k:], chip.ps_lo, chip.ps_hi)
        out[:, k:n] = ps if tick >= max_start else bk.where(prm["start_psum"] <= tick, ps, 0)
        # stateful neurons: decay, integrate, saturate, fire, reset
        decayed = v - bk.where(prm["decays"], bk.floor_shift(v, prm["inv"], prm["shift"]), 0)
        v_new = bk.clip(decayed + cur[:, :k], lo, hi)
        thr = prm["threshold"]
        fired = bk.where(prm["greater"], v_new > thr, v_new >= thr) & prm["fires"]
        if tick < max_start:
            fired = fired & (prm["start_state"] <= tick)
        v_new = bk.where(fired & prm["subtract"], v_new - thr, v_new)
        v_new = bk.where(fired & prm["zero"], 0, v_new)
        v = v_new if tick >= max_start else bk.where(prm["start_state"] <= tick, v_new, v)
        out[:, :k] = fired
        out_hist[r] = out
        nonzero = out[:, :n] != 0
        packets += bk.dot_counts(nonzero, t.remote)
        updates += batch * (n if tick >= max_start else int((chip.start <= tick).sum()))
        decode.step(tick, out, v)
        if record:
            recorded.append(bk.to_numpy(fired))
        if trace:
            traced_host.append(bk.to_numpy(in_hist[r])[:, : chip.host_width].astype(np.int64))
            traced_out.append(bk.to_numpy(out[:, :n]).astype(np.int64))
    run = SimRun(
        outputs=decode.results(v),
        ticks=total,
        synaptic_events=round(events),
        neuron_updates=int(updates),
        packets=round(packets),
        stats={"backend": bk.name, "dtype": str(dtype), "event_ticks": event_ticks},
    )
    back = np.argsort(t.order)  # binary neuron -> internal
    if record:
        spikes = np.zeros((total, batch, n), np.uint8)
        spikes[:, :, t.order[:k]] = np.stack(recorded).astype(np.uint8)
        run.spikes = spikes
    if trace:
        v_full = np.broadcast_to(chip.v_init, (batch, n)).copy()
        v_full[:, t.order[:k]] = bk.to_numpy(v).astype(np.int64)
        run.trace = {"host": np.stack(traced_host), "out": np.stack(traced_out)[:, :, back], "v": v_full}
    return run


def _dense_input(x: Any, t: Tables, batch: int, c: int, a_max: int) -> Any:
    """(cores, batch, A) view-or-copy of the dense cores' axon slots."""
    x3 = x[:, : t.n_dense_axons].reshape(batch, c, a_max)
    return x3.transpose(1, 0, 2) if isinstance(x3, np.ndarray) else x3.permute(1, 0, 2)


def _flat(res: Any) -> Any:
    """(cores, batch, N) -> (batch, cores * N)."""
    swapped = res.transpose(1, 0, 2) if isinstance(res, np.ndarray) else res.permute(1, 0, 2)
    return swapped.reshape(res.shape[1], -1)


class _Decoders:
    def __init__(self, chip: Chip, t: Tables, bk: Any, batch: int):
        self.chip, self.bk, self.batch = chip, bk, batch
        self.specs = chip.meta["outputs"]
        internal = np.empty(chip.n, np.int64)
        internal[t.order] = np.arange(chip.n)
        self.ids = [internal[chip.image.arrays["OUT "][f"neurons{i}"].astype(np.int64)] for i in range(len(self.specs))]
        self.acc = []
        for spec, ids in zip(self.specs, self.ids, strict=True):
            init = float(chip.ticks) if spec["kind"] == "first_spike" else 0.0
            self.acc.append(np.full((batch, ids.size), init))
        self.dev_ids = [bk.asarray(ids, np.int64) for ids in self.ids]

    def step(self, tick: int, out: Any, v: Any) -> None:
        ticks = self.chip.ticks
        for spec, ids, acc in zip(self.specs, self.dev_ids, self.acc, strict=True):
            t = tick - spec["latency"]
            if not 0 <= t < ticks or spec["kind"] == "membrane":
                continue
            got = self.bk.to_numpy(out[:, ids]).astype(np.float64)
            if spec["kind"] == "count":
                acc += got
            elif spec["kind"] == "first_spike":
                acc[:] = np.where((acc == ticks) & (got > 0), float(t), acc)

    def results(self, v: Any) -> list[np.ndarray]:
        outs = []
        v_np = self.bk.to_numpy(v).astype(np.float64)
        for i, (spec, ids, acc) in enumerate(zip(self.specs, self.ids, self.acc, strict=True)):
            if spec["kind"] == "membrane":
                acc = v_np[:, ids] * self.chip.image.arrays["OUT "][f"scale{i}"]
            outs.append(acc.reshape((self.batch, *spec["shape"])).astype(np.float32))
        return outs
