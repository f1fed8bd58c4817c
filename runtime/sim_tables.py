"""The simulator's precomputed tables: crossbar blocks, stacks, gathers, neuron parameters.

Internal layout: neurons are renumbered so that the simulated stateful ones (spike, integrate) come
first, copy relays read through next (runtime/sim_relays.py: their rows stay 0) and partial-sum units
last, so each kind is a contiguous slice. Axons keep the binary's
numbering (grouped by core), plus one last axon that is always zero. Within a core, consecutive
neurons that read the same axon range form a dense block; blocks merge while cheaper than apart.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nmc.chips.formats import MODES, RESETS
from nmc.runtime.int8 import fits_int8
from nmc.runtime.sim_relays import RelayPackets, read_through

if TYPE_CHECKING:
    from nmc.runtime.simulator import Chip

STACK_ABOVE = 2048  # with more blocks than this, the small ones are stacked into batched GEMMs (per-call overhead)
STACK_CELLS = 1 << 15  # a block below this many weights is small (measured: larger ones run faster one by one)
BIAS_GAP = 64  # rows without a bias that a bias range spans rather than splitting in two
MAX_RANGES = 16  # up to this many runs of rows, a row set is added to by slices rather than by an index
CALL_CELLS = 16384  # one GEMM call's overhead, in multiply-adds of one sample (sets how far blocks merge)


@dataclass
class Block:
    """Neurons [r0, r1) (internal ids) read axons [c0, c1) through the dense weights `w` (r1 - r0, c1 - c0)."""

    r0: int
    r1: int
    c0: int
    c1: int
    w: Any  # backend float array, or an int8 torch tensor for the int8 kernels
    direct: tuple[bool, int, int] | None = None  # (from host, delay, first source): axons read sources s0.. in order
    # the product's kernel, chosen where it is proved exact (docs/chip-model.md, "Exactness of the simulator"):
    # "int8": weights and values fit int8, sums fit int32; "int8x2": values |x| < 2**14 split into two int8
    # digits (x = 128 h + l), two int8 GEMMs; "int8w2": values fit int8, weights |w| < 2**14 split into two int8
    # digits the same way; "f32": a float32 GEMM in a float64 run, every sum below 2**24;
    # "": the run's own dtype
    kernel: str = ""

    @property
    def int8(self) -> bool:
        return self.kernel.startswith("int8")

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
    n_state: int  # neurons [0, n_state) keep a membrane; then relays read through (never simulated), partial-sum units
    blocks: list[Block]  # dense crossbar blocks, one GEMM each
    stacks: list[Stack]  # many small blocks, one batched GEMM per stack
    # the synapses outside dense blocks, per column class (from host, delay, width, sparse (len(sparse_rows), width)
    # matrix over that class's history slice), or None
    sparse: list[tuple[bool, int, int, Any]] | None
    sparse_nnz: int
    events: Any  # sparse (axons + 1, n) matrix of every synapse, transposed: fan-out rows (numpy backend), or None
    gathers: list[tuple[bool, int, Any, Any, np.ndarray, np.ndarray]]  # (from host, delay, axons, sources) x2: device, numpy
    partial: list[tuple[bool, int, Any, Any]]  # the gathers restricted to axons that non-direct blocks or sparse synapses read
    fan_out: np.ndarray  # synapses per axon
    remote: np.ndarray  # remote destination cores per internal neuron
    params: dict[str, Any]
    flags: dict[str, bool]  # which neuron features occur at all (fast paths skip the others)
    sparse_rows: Any = None  # the internal neurons the sparse matrices' rows stand for
    bias_ranges: list[tuple[int, int]] = field(default_factory=list)  # the neuron ranges with a bias (params["bias"])
    relay_packets: list[RelayPackets] = field(default_factory=list)  # the packets of copy relays read through
    ring: int = 2  # ticks of history the axons need
    psum0: int = 0  # neurons [psum0, n) are partial-sum units
    unblocked: list[tuple[int, int]] = field(default_factory=list)  # the neuron ranges no dense block writes
    sparse_ranges: list[tuple[int, int, int]] | None = None  # sparse_rows as a few runs (first, end, offset), or None


def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the runs of equal consecutive rows of `keys` (n, k)."""
    if keys.shape[0] == 0:
        return []
    change = np.nonzero((keys[1:] != keys[:-1]).any(axis=1))[0] + 1
    bounds = [0, *change.tolist(), keys.shape[0]]
    return list(itertools.pairwise(bounds))


def _blocks(
    chip: Chip, internal: np.ndarray, dense_min: float, kind: np.ndarray
) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """Dense blocks (r0, r1, c0, c1) in internal rows / axon columns, and the block of each synapse (-1: none).

    Within a core, consecutive neurons of one kind that read the same axon range form a run
    (an MLP layer on a core is one run: no zero is multiplied). Neighbouring runs merge while
    the merged block costs no more than the two apart, counting each GEMM call as CALL_CELLS
    multiply-adds (a conv layer's sliding windows merge into one block per layer, layers stay
    apart). A block sparser than `dense_min` stays in the sparse matrix. `kind`: each neuron's slice of the
    internal order (runs stay within one, so a block's internal rows are contiguous).
    """
    rows, cols = chip.syn_row, chip.syn_col
    cmin = np.full(chip.n, -1)
    cmax = np.full(chip.n, -1)
    if rows.size:  # synapses are sorted by (core, axon, slot), not by row: reduce per row explicitly
        cmin = np.full(chip.n, np.iinfo(np.int64).max)
        np.minimum.at(cmin, rows, cols)
        np.maximum.at(cmax, rows, cols)
        cmin[cmax < 0] = -1
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


@dataclass
class Bounds:
    """What the kernels' exactness rests on (Chip.value_bounds): per column the largest value it carries,
    per internal neuron the largest current it integrates; and the kernels the run may use."""

    column: np.ndarray
    current: np.ndarray
    allowed: tuple[str, ...]


def block_kernel(w: np.ndarray, c0: int, c1: int, r0: int, r1: int, bounds: Bounds) -> str:
    """The cheapest allowed kernel this block's own bounds prove exact (see Block.kernel)."""
    sums = float(bounds.current[r0:r1].max(initial=0))
    values = float(bounds.column[c0:c1].max(initial=0))
    if fits_int8(w.min(initial=0), w.max(initial=0)) and sums < 2**31:
        if values <= 127 and "int8" in bounds.allowed:
            return "int8"
        if values < 2**14 and "int8x2" in bounds.allowed:
            return "int8x2"
    # weights w = 128 h + l (h in int8, l in [0, 127]): |l . x| <= 127 * 127 * columns < 2**30 below 2**16 columns,
    # and with |w . x| <= sums < 2**30, 128 |h . x| = |w . x - l . x| < 2**31: int32 throughout
    wide_ok = -(2**14) <= w.min(initial=0) and w.max(initial=0) < 2**14 and c1 - c0 < 2**16
    if wide_ok and values <= 127 and sums < 2**30 and "int8w2" in bounds.allowed:
        return "int8w2"
    if "f32" in bounds.allowed and sums < 2**24:
        return "f32"
    return ""


def by_source(chip: Chip, internal: np.ndarray) -> Chip:
    """The chip seen through one axon per (host or neuron, delay, source) over all cores.

    A neuron integrates Σ W[a] * value(a) over its core's axons a, and value(a) is the output of
    a's source at the tick its delay names; a neuron never has two axons of one (source, delay).
    So merging every core's copy of an axon into one column changes no sum: each neuron keeps
    exactly its synapses, re-addressed. What it buys: a layer spread over many cores (or split by
    fan-in decomposition, or fed through relays) reads one range of columns, so its product is
    one dense block over the history of its sources (no per-core copies, no gather), and the
    synaptic-event count (per column: the fan-out of all its copies) is the same number.
    Columns: for each class (host inputs first, then neurons; by delay), every source in order
    (neurons in internal order), read or not, so that a block within a class is a history slice.
    """
    classes = sorted(set(zip(chip.axon_host.tolist(), chip.axon_delay.tolist(), strict=True)), key=lambda c: (not c[0], c[1]))
    order = np.empty(chip.n, np.int64)
    order[internal] = np.arange(chip.n)
    col = np.zeros(chip.n_axons, np.int64)
    hosts, delays, srcs, start = [], [], [], 0
    for host, delay in classes:
        width = chip.host_width if host else chip.n
        sel = (chip.axon_host == host) & (chip.axon_delay == delay)
        col[sel] = start + (chip.axon_src[sel] if host else internal[chip.axon_src[sel]])
        hosts.append(np.full(width, host))
        delays.append(np.full(width, delay, np.int64))
        srcs.append(np.arange(width) if host else order)
        start += width
    view = copy.copy(chip)
    view.n_axons = start
    view.axon_host = np.concatenate(hosts) if hosts else np.zeros(0, bool)
    view.axon_delay = np.concatenate(delays) if delays else np.zeros(0, np.int64)
    view.axon_src = np.concatenate(srcs) if srcs else np.zeros(0, np.int64)
    view.syn_col = col[chip.syn_col]
    view.fan_out = np.bincount(col, weights=chip.fan_out, minlength=start)
    view.neuron_id = np.array([0, chip.n])  # blocks may span cores: the columns no longer belong to one
    return view


def build_tables(
    chip: Chip, backend: Any, dense_min: float, event_driven: bool, host_bound: float = 1.0, allowed: tuple[str, ...] = (),
    relays: bool | None = None,
) -> Tables:  # fmt: skip
    """The tables of one backend, over the chip's sources (`by_source`); each dense block gets the cheapest of
    the `allowed` kernels that its own value bounds (for host inputs up to `host_bound`) prove exact. `relays`:
    read copy relays through (runtime/sim_relays.py), True where the host inputs are spike-coded, False where
    they are graded; None keeps them (runs that record every neuron's spikes)."""
    n = chip.n
    no_relays = (chip, [], chip.ring, np.zeros(n, bool))
    view, relay_packets, ring, fused = no_relays if relays is None else read_through(chip, relays)
    # internal order: simulated stateful neurons, then relays read through (rows that stay 0), then partial sums
    order = np.concatenate([chip.stateful[~fused[chip.stateful]], chip.stateful[fused[chip.stateful]], chip.psum])
    internal = np.empty(n, np.int64)
    internal[order] = np.arange(n)
    real = chip
    k = int((~fused[chip.stateful]).sum())
    psum0 = chip.stateful.size
    for rp in relay_packets:
        rp.roots = rp.roots if rp.from_host else internal[rp.roots]
    chip = by_source(view, internal)
    proof = None
    if allowed:
        out, current = real.value_bounds(host_bound)
        column = np.where(chip.axon_host, host_bound, out[np.where(chip.axon_host, 0, chip.axon_src)])
        proof = Bounds(np.append(column, 0.0), current[order], allowed)
    n_cols = chip.n_axons + 1  # the last axon column is always zero
    # a run never mixes the internal slices (simulated, read through, partial sums): each block's rows stay contiguous
    kind = np.searchsorted([k, psum0], internal, side="right")
    spans, block_of = _blocks(chip, internal, dense_min, kind)
    rows, cols, weights = internal[chip.syn_row], chip.syn_col, chip.syn_weight
    by_block = np.argsort(block_of, kind="stable")
    bounds = np.searchsorted(block_of[by_block], np.arange(len(spans) + 1))
    dense_w = []
    for b, (r0, r1, c0, c1) in enumerate(spans):
        sel = by_block[bounds[b] : bounds[b + 1]]
        w = np.zeros((r1 - r0, c1 - c0))
        w[rows[sel] - r0, cols[sel] - c0] = weights[sel]
        dense_w.append(w)
    blocks, stacks = _arrange(chip, internal, spans, dense_w, backend, n, n_cols, proof)
    in_block = block_of >= 0
    out = ~in_block
    # the synapses outside dense blocks, as one sparse matrix over just the rows that have any (its product
    # is added to those rows only: a full-height product would touch every neuron's current again)
    sparse_rows = np.unique(rows[out]) if out.any() else None
    sparse = None
    if sparse_rows is not None:  # split by column class: each part multiplies its class's history slice as it is
        local, out_cols, out_w = np.searchsorted(sparse_rows, rows[out]), cols[out], weights[out]
        sparse = []
        for host, d, c0, c1 in _classes(chip):
            sel = (out_cols >= c0) & (out_cols < c1)
            if sel.any():
                m = backend.sparse_matrix(local[sel], out_cols[sel] - c0, out_w[sel], (sparse_rows.size, c1 - c0))
                sparse.append((host, d, c1 - c0, m))
    events = backend.sparse_matrix(cols, rows, weights, (n_cols, n)) if event_driven else None
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
    shift = chip.shift[p][:k]
    threshold, fires = chip.threshold[p][:k], chip.mode[p][:k] == MODES.index("spike")
    subtract = fires & (chip.reset[p][:k] == RESETS.index("subtract"))
    zero = fires & (chip.reset[p][:k] == RESETS.index("zero"))
    # one comparison for every neuron: on integers v > thr is v >= thr + 1, and a neuron that never fires
    # (integrate mode) compares against a value no membrane reaches; the reset is arithmetic, not a select
    # (a select on a data-dependent mask costs ~20x an add in numpy): v -= fired * thr on subtract rows
    never = np.inf if backend.is_float else np.iinfo(np.int64).max
    cuba, cshift, cmult = chip.cuba[p][:k], chip.cshift[p][:k], chip.cmult[p][:k]
    columns = {  # column vectors: state is laid out (neurons, batch)
        "v_init": chip.v_init[p][:k],
        # floor(v * m * 2**-s): exact while |v * m| is within the run's bound (Chip._value_bound); 0: nothing leaks
        "inv": np.where(shift > 0, chip.mult[p][:k] * 2.0 ** -shift.astype(np.float64), 0.0),
        "shift": shift,
        "mult": chip.mult[p][:k],
        "decays": shift > 0,
        "fire_at": np.where(fires, threshold + chip.greater[p][:k], never),
        "thr_subtract": np.where(subtract, threshold, 0),
        "zero_firing": zero.astype(np.int64),  # 0/1 in the run's type (no bool casts)
        # a current-based neuron's current decay; rows without a current decay it whole (inv 1, or I * 1 >> 0)
        "c_inv": np.where(cuba, np.where(cshift > 0, cmult * 2.0 ** -cshift.astype(np.float64), 0.0), 1.0),
        "c_shift": np.where(cuba, cshift, 0),
        "c_mult": np.where(cuba, cmult, 1),
        "c_decays": ~cuba | (cshift > 0),
        "cuba": cuba,
    }
    params: dict[str, Any] = {}
    for key, val in columns.items():
        dtype = np.bool_ if val.dtype == np.bool_ else (np.int64 if key in ("shift", "mult", "c_shift", "c_mult") else None)
        params[key] = backend.asarray(val[:, None], dtype)
    flags = {"decay": bool(shift.any()), "zero_firing": bool(zero.any()), "subtract_firing": bool(subtract.any()),
             "current": bool(cuba.any())}  # fmt: skip
    # the row ranges that hold a bias (a layer's neurons; relays and partial-sum units have none), merged over gaps
    # shorter than a range's own overhead
    bias = chip.bias[p]
    bias_ranges = [(int(a), int(b)) for a, b, _ in _row_runs(np.nonzero(bias)[0], BIAS_GAP)]
    params["bias"] = [backend.asarray(bias[a:b, None]) for a, b in bias_ranges]
    covered = np.zeros(n + 1, np.int64)
    for blk in blocks:
        covered[blk.r0] += 1
        covered[blk.r1] -= 1
    bare = np.concatenate([[0], (np.cumsum(covered)[:n] == 0).astype(np.int8), [0]])
    edges = np.nonzero(np.diff(bare))[0]
    unblocked = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    sparse_ranges = None
    if sparse_rows is not None and len(runs := _row_runs(sparse_rows)) <= MAX_RANGES:
        sparse_ranges = runs
    return Tables(order, k, blocks, stacks, sparse, int(out.sum()), events, gathers, partial, fan_out, chip.remote[order], params,
                  flags, None if sparse_rows is None else backend.asarray(sparse_rows, np.int64), bias_ranges, relay_packets,
                  ring, psum0, unblocked, sparse_ranges)  # fmt: skip


def _row_runs(rows: np.ndarray, gap: int = 1) -> list[tuple[int, int, int]]:
    """(first row, end row, offset in `rows`) of each run of the sorted `rows`, a run continuing over steps of
    at most `gap` (1: consecutive rows only)."""
    if rows.size == 0:
        return []
    starts = [0, *(np.nonzero(np.diff(rows) > gap)[0] + 1).tolist()]
    ends = [*starts[1:], rows.size]
    return [(int(rows[a]), int(rows[b - 1]) + 1, a) for a, b in zip(starts, ends, strict=True)]


def _classes(view: Chip) -> list[tuple[bool, int, int, int]]:
    """(from host, delay, first column, end column) of each column class of a `by_source` view, in order."""
    key = np.stack([view.axon_host.astype(np.int64), view.axon_delay])
    change = [0, *(np.nonzero((key[:, 1:] != key[:, :-1]).any(axis=0))[0] + 1).tolist(), view.n_axons]
    return [(bool(view.axon_host[a]), int(view.axon_delay[a]), a, b) for a, b in itertools.pairwise(change) if b > a]


def _arrange(
    chip: Chip,
    internal: np.ndarray,
    spans: list,
    dense_w: list,
    backend: Any,
    n: int,
    n_cols: int,
    proof: Bounds | None,
) -> tuple[list[Block], list[Stack]]:
    """Large blocks run as one GEMM each; many small ones as batched GEMMs over stacks of equal (padded) shape."""
    blocks, small = [], []
    many = len(spans) > STACK_ABOVE
    for (r0, r1, c0, c1), w in zip(spans, dense_w, strict=True):
        if many and w.size < STACK_CELLS:
            small.append((r0, r1, c0, c1, w))
        else:
            kernel = block_kernel(w, c0, c1, r0, r1, proof) if proof is not None else ""
            arr = (backend.int8_weight_digits(w) if kernel == "int8w2" else
                   backend.int8_weights(w) if kernel.startswith("int8") else
                   backend.asarray(w.astype(np.float32)) if kernel == "f32" else backend.asarray(w))  # fmt: skip
            blocks.append(Block(r0, r1, c0, c1, arr, _direct(chip, internal, c0, c1), kernel))
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
