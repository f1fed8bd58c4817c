"""The simulator's tick loop and its precomputed tables (see runtime/simulator.py for the plan).

Internal layout: neurons are renumbered so that the stateful ones (spike, integrate) come
first and partial-sum units last, so each kind is a contiguous slice; axons are renumbered
so that the axons of each dense core form a padded row of `A` slots (the batched matmul
reads them as a view), then the axons of sparse cores, then one slot that is always zero.
Outputs, records and traces are mapped back to the binary's numbering.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nmc.chips.formats import MODES, RESETS

if TYPE_CHECKING:
    from nmc.runtime.encoders import Encoder
    from nmc.runtime.simulator import Chip, SimRun


STACK_ABOVE = 64  # with more blocks than this, the small ones are stacked into batched GEMMs
STACK_CELLS = 1 << 17  # a block below this many weights is small
CALL_CELLS = 16384  # one GEMM call's overhead, in multiply-adds of one sample (sets how far blocks merge)


@dataclass
class Block:
    """Neurons [r0, r1) (internal ids) read axons [c0, c1) through the dense weights `w` (r1 - r0, c1 - c0)."""

    r0: int
    r1: int
    c0: int
    c1: int
    w: Any
    direct: tuple[bool, int, int] | None = None  # (from host, delay, first source): axons read sources s0.. in order

    @property
    def cells(self) -> int:
        return (self.r1 - self.r0) * (self.c1 - self.c0)


@dataclass
class Stack:
    """Equal-shaped small blocks run as one batched GEMM: w (blocks, R, C), x gathered by `cols`."""

    w: Any
    rows: Any  # (blocks * R,) internal neuron of each output row (n: padding)
    cols: Any  # (blocks, C) axon of each input column (the zero axon: padding)
    cols_np: np.ndarray


@dataclass
class Tables:
    """Everything a run needs, in internal numbering, as backend arrays."""

    order: np.ndarray  # internal neuron -> binary neuron
    n_state: int  # neurons [0, n_state) keep a membrane; the rest are partial-sum units
    blocks: list[Block]  # dense crossbar blocks, one GEMM each
    stacks: list[Stack]  # many small blocks, one batched GEMM per stack
    sparse: Any  # sparse (n, axons + 1) matrix of the synapses outside dense blocks, or None
    sparse_nnz: int
    events: Any  # sparse (n, axons + 1) matrix of every synapse (numpy backend), or None
    gathers: list[tuple[bool, int, Any, Any, np.ndarray, np.ndarray]]  # (from host, delay, axons, sources) x2: device, numpy
    partial: list[tuple[bool, int, Any, Any]]  # the gathers restricted to axons that non-direct blocks or sparse synapses read
    fan_out: np.ndarray  # synapses per axon
    remote: np.ndarray  # remote destination cores per internal neuron
    params: dict[str, Any]
    flags: dict[str, bool]  # which neuron features occur at all (fast paths skip the others)


def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the runs of equal consecutive rows of `keys` (n, k)."""
    if keys.shape[0] == 0:
        return []
    change = np.nonzero((keys[1:] != keys[:-1]).any(axis=1))[0] + 1
    bounds = [0, *change.tolist(), keys.shape[0]]
    return list(itertools.pairwise(bounds))


def _blocks(chip: Chip, internal: np.ndarray, dense_min: float) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """Dense blocks (r0, r1, c0, c1) in internal rows / axon columns, and the block of each synapse (-1: none).

    Within a core, consecutive neurons of one kind that read the same axon range form a run
    (an MLP layer on a core is one run: no zero is multiplied). Neighbouring runs merge while
    the merged block costs no more than the two apart, counting each GEMM call as CALL_CELLS
    multiply-adds (a conv layer's sliding windows merge into one block per layer, layers stay
    apart). A block sparser than `dense_min` stays in the sparse matrix.
    """
    rows, cols = chip.syn_row, chip.syn_col
    cmin = np.full(chip.n, -1)
    cmax = np.full(chip.n, -1)
    if rows.size:  # synapses are sorted by (core, axon, slot), not by row: reduce per row explicitly
        cmin = np.full(chip.n, np.iinfo(np.int64).max)
        np.minimum.at(cmin, rows, cols)
        np.maximum.at(cmax, rows, cols)
        cmin[cmax < 0] = -1
    kind = np.zeros(chip.n, np.int64)
    kind[chip.psum] = 1
    nnz = np.bincount(rows, minlength=chip.n)
    blocks, covered = [], np.full(rows.size, -1)
    starts = chip.neuron_id
    for c in range(starts.size - 1):
        lo, hi = int(starts[c]), int(starts[c + 1])
        merged: list[list[int]] = []  # [first neuron, end neuron, c0, c1, kind]
        for a, b in _runs(np.stack([kind[lo:hi], cmin[lo:hi], cmax[lo:hi]], axis=1)):
            k0, c0, c1 = int(kind[lo + a]), int(cmin[lo + a]), int(cmax[lo + a]) + 1
            if merged and merged[-1][4] == k0:
                last = merged[-1]
                if c0 < 0:  # neurons without synapses ride along (their rows stay 0)
                    last[1] = lo + b
                    continue
                if last[2] < 0:
                    last[1:4] = [lo + b, c0, c1]
                    continue
                m0, m1 = min(last[2], c0), max(last[3], c1)
                apart = (last[1] - last[0]) * (last[3] - last[2]) + (b - a) * (c1 - c0) + CALL_CELLS
                if (lo + b - last[0]) * (m1 - m0) <= apart:
                    last[1:4] = [lo + b, m0, m1]
                    continue
            merged.append([lo + a, lo + b, c0, c1, k0])
        for first, end, c0, c1, _k in merged:
            if c0 < 0:
                continue
            if nnz[first:end].sum() >= dense_min * (end - first) * (c1 - c0):
                r = internal[first:end]
                blocks.append((int(r.min()), int(r.max()) + 1, c0, c1))
    if blocks:
        lo_row = np.array([b[0] for b in blocks])
        order = np.argsort(lo_row)
        starts_sorted = lo_row[order]
        ir = internal[rows]
        k = np.searchsorted(starts_sorted, ir, side="right") - 1
        blk = np.array(blocks)[order]
        own = blk[np.maximum(k, 0)]  # the block whose row range starts at or before each synapse's row
        inside = (k >= 0) & (ir < own[:, 1]) & (cols >= own[:, 2]) & (cols < own[:, 3])
        covered = np.where(inside, k, -1)
        blocks = [tuple(int(v) for v in row) for row in blk]
    return blocks, covered


def build_tables(chip: Chip, backend: Any, dense_min: float, event_driven: bool) -> Tables:
    n = chip.n
    order = np.concatenate([chip.stateful, chip.psum])
    internal = np.empty(n, np.int64)
    internal[order] = np.arange(n)
    n_cols = chip.n_axons + 1  # the last axon column is always zero
    spans, block_of = _blocks(chip, internal, dense_min)
    rows, cols, weights = internal[chip.syn_row], chip.syn_col, chip.syn_weight
    by_block = np.argsort(block_of, kind="stable")
    bounds = np.searchsorted(block_of[by_block], np.arange(len(spans) + 1))
    dense_w = []
    for b, (r0, r1, c0, c1) in enumerate(spans):
        sel = by_block[bounds[b] : bounds[b + 1]]
        w = np.zeros((r1 - r0, c1 - c0))
        w[rows[sel] - r0, cols[sel] - c0] = weights[sel]
        dense_w.append(w)
    blocks, stacks = _arrange(chip, internal, spans, dense_w, backend, n, n_cols)
    in_block = block_of >= 0
    out = ~in_block
    sparse = backend.sparse_matrix(rows[out], cols[out], weights[out], (n, n_cols)) if out.any() else None
    events = backend.sparse_matrix(rows, cols, weights, (n, n_cols)) if event_driven else None
    fan_out = np.zeros(n_cols)
    fan_out[: chip.n_axons] = chip.fan_out
    gathers = []
    for host in (True, False):
        for d in np.unique(chip.axon_delay[chip.axon_host == host]).tolist():
            sel = (chip.axon_host == host) & (chip.axon_delay == d)
            src = chip.axon_src[sel] if host else internal[chip.axon_src[sel]]
            axons = np.nonzero(sel)[0]
            gathers.append((host, int(d), backend.asarray(axons, np.int64), backend.asarray(src, np.int64), axons, src))
    needed = np.zeros(n_cols, bool)
    needed[cols[out]] = True
    for blk in blocks:
        needed[blk.c0 : blk.c1] |= blk.direct is None
    for st in stacks:
        needed[st.cols_np.ravel()] = True
    partial = []
    for from_host, d, _ax, _src, axons, src in gathers:
        keep = needed[axons]
        if keep.any():
            partial.append((from_host, d, backend.asarray(axons[keep], np.int64), backend.asarray(src[keep], np.int64)))
    p = order
    k = chip.stateful.size
    shift = chip.shift[p][:k]
    raw = {
        "threshold": chip.threshold[p][:k], "v_init": chip.v_init[p][:k], "inv": 2.0 ** -shift.astype(np.float64),
        "shift": shift, "decays": shift > 0, "greater": chip.greater[p][:k],
        "subtract": chip.reset[p][:k] == RESETS.index("subtract"), "zero": chip.reset[p][:k] == RESETS.index("zero"),
        "fires": chip.mode[p][:k] == MODES.index("spike"), "start_state": chip.start[p][:k],
        "start_psum": chip.start[p][k:], "bias": chip.bias[p],
    }  # fmt: skip
    params = {}
    for key, val in raw.items():  # column vectors: state is laid out (neurons, batch)
        dtype = np.bool_ if val.dtype == np.bool_ else (np.int64 if key == "shift" else None)
        params[key] = backend.asarray(val[:, None], dtype)
    flags = {
        "decay": bool(raw["decays"].any()), "all_gt": bool(raw["greater"].all()), "any_gt": bool(raw["greater"].any()),
        "zero": bool(raw["zero"].any()), "subtract": bool(raw["subtract"].any()), "all_fire": bool(raw["fires"].all()),
        "bias": bool(raw["bias"].any()), "all_subtract_firing": bool(raw["subtract"][raw["fires"]].all()),
    }  # fmt: skip
    return Tables(order, k, blocks, stacks, sparse, int(out.sum()), events, gathers, partial, fan_out, chip.remote[order], params,
                  flags)  # fmt: skip


def _arrange(
    chip: Chip, internal: np.ndarray, spans: list, dense_w: list, backend: Any, n: int, n_cols: int
) -> tuple[list[Block], list[Stack]]:
    """Large blocks run as one GEMM each; many small ones as batched GEMMs over stacks of equal (padded) shape."""
    blocks, small = [], []
    many = len(spans) > STACK_ABOVE
    for (r0, r1, c0, c1), w in zip(spans, dense_w, strict=True):
        if many and w.size < STACK_CELLS:
            small.append((r0, r1, c0, c1, w))
        else:
            blocks.append(Block(r0, r1, c0, c1, backend.asarray(w), _direct(chip, internal, c0, c1)))
    buckets: dict[tuple[int, int], list] = {}
    for item in small:  # pad each dimension up to a multiple of 32 so that similar blocks share a stack
        r, c = item[1] - item[0], item[3] - item[2]
        buckets.setdefault((-(-r // 32) * 32, -(-c // 32) * 32), []).append(item)
    stacks = []
    for (rp, cp), items in sorted(buckets.items()):
        w3 = np.zeros((len(items), rp, cp))
        row_idx = np.full((len(items), rp), n, np.int64)  # padding rows land in a spare row of `cur`
        col_idx = np.full((len(items), cp), n_cols - 1, np.int64)  # padding columns read the zero axon
        for j, (r0, r1, c0, c1, w) in enumerate(items):
            w3[j, : r1 - r0, : c1 - c0] = w
            row_idx[j, : r1 - r0] = np.arange(r0, r1)
            col_idx[j, : c1 - c0] = np.arange(c0, c1)
        stacks.append(Stack(backend.asarray(w3), backend.asarray(row_idx.ravel(), np.int64),
                            backend.asarray(col_idx, np.int64), col_idx))  # fmt: skip
    return blocks, stacks


def _direct(chip: Chip, internal: np.ndarray, c0: int, c1: int) -> tuple[bool, int, int] | None:
    """A block whose axons read consecutive sources (one kind, one delay) multiplies a slice of the history."""
    host, delay = chip.axon_host[c0:c1], chip.axon_delay[c0:c1]
    if not ((host == host[0]).all() and (delay == delay[0]).all()):
        return None
    src = chip.axon_src[c0:c1] if host[0] else internal[chip.axon_src[c0:c1]]
    if (np.diff(src) != 1).any():
        return None
    return bool(host[0]), int(delay[0]), int(src[0])


def make_backend(dtype: np.dtype, device: str) -> Any:
    from nmc.runtime.sim_backend import NumpyBackend, TorchBackend

    return NumpyBackend(dtype) if device == "numpy" else TorchBackend(dtype, device)


def run_loop(
    chip: Chip, encoders: list[Encoder], batch: int, dtype: np.dtype, device: str, *, record: bool, trace: bool
) -> SimRun:
    from nmc.runtime.simulator import DENSE_BLOCK_MIN, EVENT_COST, SimRun

    bk = make_backend(dtype, device)
    key = (bk.name, str(dtype))
    cache = chip.__dict__.setdefault("_tables", {})
    if key not in cache:
        # torch: every core dense (GPU GEMMs, no sparse kernels needed for int64); numpy: sparse cores and events too
        cache[key] = build_tables(chip, bk, DENSE_BLOCK_MIN if bk.name == "numpy" else 0.0, bk.name == "numpy")
    t: Tables = cache[key]
    n, k = chip.n, t.n_state
    prm, flags = t.params, t.flags
    total = chip.ticks + chip.latency
    ring = chip.ring
    # state is (neurons, batch): a block's axons are contiguous rows, gathers copy whole rows
    v = bk.zeros((k, batch)) + prm["v_init"]
    out_hist = bk.zeros((ring, n, batch))
    in_hist = bk.zeros((ring, max(chip.host_width, 1), batch))
    out_counts = np.zeros((ring, n))  # nonzero outputs per neuron and tick: events, packets, silent axons
    in_counts = np.zeros((ring, max(chip.host_width, 1)))
    decode = _Decoders(chip, t, bk, batch)
    recorded, traced_host, traced_out = [], [], []
    events = packets = 0.0
    updates = event_ticks = 0
    max_start = int(chip.start.max(initial=0))
    n_cols = t.fan_out.size
    lo, hi = chip.mem_lo, chip.mem_hi
    thr = prm["threshold"]
    spikes_only = all(e.kind != "direct" for e in encoders)
    for tick in range(total):
        r = tick % ring
        starting = tick < max_start  # some neurons have not started yet: mask them
        if tick < chip.ticks and encoders:
            steps = [e.step() for e in encoders]  # (inputs, batch): the encoders run transposed
            host = np.concatenate(steps if spikes_only else [np.trunc(s.astype(np.float64)) for s in steps], axis=0)
            in_counts[r] = host @ np.ones(batch, host.dtype) if spikes_only else np.count_nonzero(host, axis=1)
            in_hist[r] = bk.asarray(host)
        else:
            in_hist[r] = 0
            in_counts[r] = 0
        # axons: the host input of this tick and neuron outputs of earlier ticks (one hop + delay);
        # per-axon counts of nonzero values come from the per-source counts, without touching x
        axon_counts = np.zeros(n_cols)
        for from_host, d, _axons, _src, axons_np, src_np in t.gathers:
            back = tick - d if from_host else tick - 1 - d
            if back >= 0:
                axon_counts[axons_np] = (in_counts if from_host else out_counts)[back % ring][src_np]
        events_now = float(axon_counts @ t.fan_out)
        events += events_now
        event_tick = False
        if t.events is not None:  # events when touching the active synapses one by one is cheaper than the GEMMs
            live_cells = (sum(b.cells for b in t.blocks if axon_counts[b.c0 : b.c1].any()) + t.sparse_nnz
                          + sum(st.w.shape[0] * st.w.shape[1] * st.w.shape[2] for st in t.stacks)) * batch  # fmt: skip
            event_tick = EVENT_COST * events_now < live_cells
        gathers = t.gathers if event_tick else t.partial
        x = bk.zeros((n_cols, batch)) if gathers or t.sparse is not None or t.stacks else None  # direct blocks need no x
        for from_host, d, axons, src, *_ in gathers:
            back = tick - d if from_host else tick - 1 - d
            if back >= 0:
                x[axons] = (in_hist if from_host else out_hist)[back % ring][src]
        # crossbars: events only when few axons carry a value, else one GEMM per dense block over its live axons
        if event_tick:
            cur = bk.events(t.events, x)
            event_ticks += 1
        else:
            cur = bk.zeros((n, batch))
            for blk in t.blocks:
                live = axon_counts[blk.c0 : blk.c1] > 0
                n_live = int(live.sum())
                if n_live == 0:
                    continue  # every axon of the block is silent in every sample: the product is 0
                if blk.direct is not None:
                    from_host, d, s0 = blk.direct
                    back = tick - d if from_host else tick - 1 - d
                    xb = (in_hist if from_host else out_hist)[back % ring][s0 : s0 + blk.c1 - blk.c0]
                else:
                    xb = x[blk.c0 : blk.c1]
                if n_live < COMPACT * (blk.c1 - blk.c0):  # mostly silent: multiply only the live axons
                    idx = bk.index(np.nonzero(live)[0])
                    cur[blk.r0 : blk.r1] = blk.w[:, idx] @ xb[idx]
                else:
                    cur[blk.r0 : blk.r1] = blk.w @ xb
            if t.stacks:
                cur = bk.pad_row(cur)  # a spare row receives the stacks' padding rows
                for st in t.stacks:
                    res = st.w @ x[st.cols]  # (blocks, R, batch)
                    cur[st.rows] = res.reshape(-1, batch)
                cur = cur[:n]
            if t.sparse is not None:
                cur += bk.spmm(t.sparse, x)
        if flags["bias"]:
            cur += prm["bias"]
        out = out_hist[r]  # every row is written below
        if k < n:  # partial-sum units: forward the clipped sum, keep no state
            ps = bk.clip(cur[k:], chip.ps_lo, chip.ps_hi)
            out[k:] = bk.where(prm["start_psum"] <= tick, ps, 0) if starting else ps
            out_counts[r, k:] = bk.count_rows(out[k:])
        # stateful neurons: decay, integrate, saturate, fire, reset (docs/chip-model.md)
        v_old = bk.copy(v) if starting else None  # v is updated in place below
        if flags["decay"]:
            v = v - bk.where(prm["decays"], bk.floor_shift(v, prm["inv"], prm["shift"]), 0)
        v = bk.add_clip(v, cur[:k], lo, hi)
        if flags["any_gt"] and not flags["all_gt"]:
            fired = bk.where(prm["greater"], v > thr, v >= thr)
        else:
            fired = v > thr if flags["all_gt"] else v >= thr
        if not flags["all_fire"]:
            fired = fired & prm["fires"]
        if starting:
            fired = fired & (prm["start_state"] <= tick)
        if flags["subtract"]:  # (integrate-only neurons never fire, so their reset mode does not matter)
            v = bk.sub_where(v, thr, fired if flags["all_subtract_firing"] else fired & prm["subtract"])
        if flags["zero"]:
            v = bk.where(fired & prm["zero"], 0, v)
        if starting:
            v = bk.where(prm["start_state"] <= tick, v, v_old)
        out[:k] = fired
        out_counts[r, :k] = bk.row_sums(out[:k])  # spikes are 0/1: counts by a matrix-vector product
        packets += float(out_counts[r] @ t.remote)
        updates += batch * (int((chip.start <= tick).sum()) if starting else n)
        decode.step(tick, out)
        if record:
            recorded.append(bk.to_numpy(fired).T)
        if trace:
            traced_host.append(bk.to_numpy(in_hist[r]).T[:, : chip.host_width].astype(np.int64))
            traced_out.append(bk.to_numpy(out).T.astype(np.int64))
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
        v_full[:, t.order[:k]] = bk.to_numpy(v).T.astype(np.int64)
        run.trace = {"host": np.stack(traced_host), "out": np.stack(traced_out)[:, :, back], "v": v_full}
    return run


COMPACT = 0.5  # below this fraction of live axons a block gathers them (measured: above it the copy costs more)


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

    def step(self, tick: int, out: Any) -> None:
        ticks = self.chip.ticks
        for spec, ids, acc in zip(self.specs, self.dev_ids, self.acc, strict=True):
            t = tick - spec["latency"]
            if not 0 <= t < ticks or spec["kind"] == "membrane":
                continue
            got = self.bk.to_numpy(out[ids]).T.astype(np.float64)
            if spec["kind"] == "count":
                acc += got
            elif spec["kind"] == "first_spike":
                acc[:] = np.where((acc == ticks) & (got > 0), float(t), acc)

    def results(self, v: Any) -> list[np.ndarray]:
        outs = []
        v_np = self.bk.to_numpy(v).T.astype(np.float64)
        for i, (spec, ids, acc) in enumerate(zip(self.specs, self.ids, self.acc, strict=True)):
            if spec["kind"] == "membrane":
                acc = v_np[:, ids] * self.chip.image.arrays["OUT "][f"scale{i}"]
            outs.append(acc.reshape((self.batch, *spec["shape"])).astype(np.float32))
        return outs
