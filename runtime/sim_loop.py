"""The simulator's tick loop (see runtime/simulator.py for the plan, runtime/sim_tables.py for the tables).

State is laid out (neurons, batch) in the tables' internal neuron order; outputs, records and
traces are mapped back to the binary's numbering at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nmc.runtime.int8 import int8_available
from nmc.runtime.sim_backend import NumpyBackend, TorchBackend
from nmc.runtime.sim_fused import fused_update
from nmc.runtime.sim_run import SimRun
from nmc.runtime.sim_tables import Tables, build_tables

if TYPE_CHECKING:
    from nmc.runtime.encoders import Encoder
    from nmc.runtime.simulator import Chip

DENSE_BLOCK_MIN = 0.05  # a core's crossbar goes dense when this fraction of its A x N block holds synapses
# A tick propagates events (only the synapses of axons that carry a value) when that costs less than the
# GEMMs of the blocks with live axons. Costs in multiply-adds of a float32 GEMM (measured on one x86 core,
# 2e-11 s each; benchmarks/sim.py): a synaptic event through scipy's sparse product about 5 ns, its dense
# result about 0.8 ns per neuron and sample, a multiply-add of an int8 GEMM 4.6e-12 s.
EVENT_COST = 250.0
EVENT_FIXED = 40.0
INT8_COST = 0.25
KERNEL_COST = {
    "int8": INT8_COST,
    "int8x2": 2 * INT8_COST,
    "int8w2": 2 * INT8_COST,
    "f32": 0.5,
    "": 1.0,
}  # relative to the run's dtype


def make_backend(dtype: np.dtype, device: str) -> Any:

    return NumpyBackend(dtype) if device == "numpy" else TorchBackend(dtype, device)


# int8 GEMMs need torch; importing it (about 1.6 s here) pays off from about this many multiply-adds
# (each saves about 1.5e-11 s over numpy's float32 GEMM on one core).
INT8_IMPORT_MACS = 1e11
INT8 = True  # False: float GEMMs only (the tests run both)


def allowed_kernels(chip: Chip, bk: Any, dtype: np.dtype, batch: int) -> tuple[str, ...]:
    """The kernels blocks may use in this run (each block still takes one only where its bounds prove it exact).
    int8 needs torch, loaded or worth loading; on the torch backends (TF32 GEMMs on CUDA: exact for 8-bit operands
    with float32 sums) only in float32 runs, where every sum is below 2**24; the two-digit and float32-in-float64
    kernels are numpy's."""
    if dtype == np.int64 or batch == 0:
        return ()
    big = chip.syn_weight.size * batch * (chip.ticks + chip.latency) >= INT8_IMPORT_MACS
    int8 = INT8 and (bk.name == "torch-cuda" or int8_available(load=big))
    if bk.name != "numpy":
        return ("int8",) if int8 and dtype == np.float32 else ()
    return (("int8", "int8x2", "int8w2") if int8 else ()) + (("f32",) if dtype == np.float64 else ())


def run_loop(
    chip: Chip, encoders: list[Encoder], batch: int, dtype: np.dtype, device: str, *, record: bool, trace: bool,
    host_bound: float = 1.0,
) -> SimRun:  # fmt: skip
    bk = make_backend(dtype, device)
    allowed = allowed_kernels(chip, bk, dtype, batch)
    # the kernels depend on the host inputs' bound: proved for the next 2**k - 1 above it (127, 255, …, the
    # kernels' own thresholds among them), so that runs with similar inputs reuse the tables
    bound_key = float(2 ** int(np.ceil(np.log2(host_bound + 1))) - 1)
    spikes_only = all(e.kind != "direct" for e in encoders)
    # copy relays are read through unless every neuron's spikes are asked for (docs/chip-model.md)
    relays = None if record or trace else spikes_only
    key = (bk.name, str(dtype), allowed, bound_key, relays)
    cache = chip.__dict__.setdefault("_tables", {})
    if key not in cache:
        # torch: every core dense (GPU GEMMs, no sparse kernels needed for int64); numpy: sparse cores and events too
        dense_min = DENSE_BLOCK_MIN if bk.name == "numpy" else 0.0
        cache[key] = build_tables(chip, bk, dense_min, bk.name == "numpy", bound_key, allowed, relays)
    t: Tables = cache[key]
    n, k, p0 = chip.n, t.n_state, t.psum0  # rows [k, p0): relays read through, never written (stay 0)
    prm, flags = t.params, t.flags
    total = chip.ticks + chip.latency
    ring = max(chip.ring, t.ring)
    # state is (neurons, batch): a block's axons are contiguous rows, gathers copy whole rows
    v = bk.zeros((k, batch)) + prm["v_init"]
    i_syn = bk.zeros((k, batch)) if flags["current"] else None  # current-based neurons' synaptic currents
    out_hist = bk.zeros((ring, n, batch))
    in_hist = bk.zeros((ring, max(chip.host_width, 1), batch))
    out_counts = np.zeros((ring, n))  # nonzero outputs per neuron and tick: events, packets, silent axons
    in_counts = np.zeros((ring, max(chip.host_width, 1)))
    decode = _Decoders(chip, t, bk, batch)
    recorded, traced_host, traced_out = [], [], []
    events = packets = emitted = 0.0
    updates = event_ticks = 0
    max_start = int(chip.start.max(initial=0))
    n_cols = t.fan_out.size
    lo, hi = chip.mem_lo, chip.mem_hi
    start_state, start_psum = chip.start[t.order[:k]], chip.start[t.order[p0:]]
    # per-neuron thresholds spelled out over the batch: same-shape operations run ~1.6x faster than a broadcast column
    fire_at, thr_subtract = prm["fire_at"], prm["thr_subtract"]
    fired_buf = tmp_buf = None
    if bk.name == "numpy" and k * batch <= SPELL_OUT:
        fire_at, thr_subtract = (np.ascontiguousarray(np.broadcast_to(a, (k, batch))) for a in (fire_at, thr_subtract))
        fired_buf, tmp_buf = np.empty((k, batch), bool), np.empty((k, batch), dtype)
    # the compiled update once this chip's runs have repaid loading it (a chip run batch after batch gets it)
    done = chip.__dict__.get("_updates_run", 0.0) + float(k) * batch * total
    chip.__dict__["_updates_run"] = done
    fused = fused_update(done, dtype, bk.name)
    all_direct = bool(encoders) and all(e.kind == "direct" for e in encoders)
    constant: dict[int, Any] = {}  # block -> its product, for blocks over host inputs that are the same every tick
    host_counts = host_values = None
    x_buffer = cur_buffer = None
    stack_cells = sum(st.w.shape[0] * st.w.shape[1] * st.w.shape[2] for st in t.stacks)
    for tick in range(total):
        r = tick % ring
        starting = tick < max_start  # some neurons have not started yet: mask them
        if tick < chip.ticks and encoders:
            if tick == 0 or not all_direct:  # direct inputs are the same every tick: encoded and converted once
                steps = [e.step() for e in encoders]  # (inputs, batch): the encoders run transposed
                host = np.concatenate(steps if spikes_only else [np.trunc(s.astype(np.float64)) for s in steps], axis=0)
                host_counts = host @ np.ones(batch, host.dtype) if spikes_only else np.count_nonzero(host, axis=1)
                host_values = bk.asarray(host)
            in_counts[r] = host_counts
            in_hist[r] = host_values
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
            live_cells = (sum(b.cells * KERNEL_COST[b.kernel] for b in t.blocks if axon_counts[b.c0 : b.c1].any())
                          + t.sparse_nnz + stack_cells) * batch  # fmt: skip
            event_tick = EVENT_COST * events_now + EVENT_FIXED * n * batch < live_cells
        gathers = t.gathers if event_tick else t.partial
        if x_buffer is None and (gathers or t.stacks):
            # one buffer for the run: a gather writes its columns every tick once its sources exist (before
            # that, back < 0, nothing has been written and they are still zero); the rest stay zero
            x_buffer = bk.zeros((n_cols, batch))
        x = x_buffer
        for from_host, d, axons, src, *_ in gathers:
            back = tick - d if from_host else tick - 1 - d
            if back >= 0:
                x[axons] = (in_hist if from_host else out_hist)[back % ring][src]
        # crossbars: events only when few axons carry a value, else one GEMM per dense block over its live axons
        if event_tick:
            cur = bk.events(t.events, x, np.nonzero(axon_counts)[0])
            event_ticks += 1
        else:
            # one buffer for the run: blocks overwrite their rows; the rows no block wrote this tick are zeroed
            if cur_buffer is None or t.stacks:
                cur_buffer = bk.zeros((n, batch))
            else:
                for a, b in t.unblocked:
                    cur_buffer[a:b] = 0
            cur = cur_buffer
            for b_i, blk in enumerate(t.blocks):
                live = axon_counts[blk.c0 : blk.c1] > 0
                n_live = int(live.sum())
                if n_live == 0:
                    cur[blk.r0 : blk.r1] = 0  # every axon of the block is silent in every sample: the product is 0
                    continue
                if b_i in constant:  # direct inputs: the same host values every input tick, the same product
                    cur[blk.r0 : blk.r1] = constant[b_i]
                    continue
                if blk.direct is not None:
                    from_host, d, s0 = blk.direct
                    back = tick - d if from_host else tick - 1 - d
                    xb = (in_hist if from_host else out_hist)[back % ring][s0 : s0 + blk.c1 - blk.c0]
                else:
                    xb = x[blk.c0 : blk.c1]
                # mostly silent: multiply only the live axons
                idx = np.nonzero(live)[0] if n_live < COMPACT * (blk.c1 - blk.c0) else None
                if blk.kernel == "int8":
                    cur[blk.r0 : blk.r1] = bk.matmul_int8(blk.w, xb, idx)
                elif blk.kernel == "int8x2":
                    cur[blk.r0 : blk.r1] = bk.matmul_int8_digits(blk.w, xb, idx)
                elif blk.kernel == "int8w2":
                    cur[blk.r0 : blk.r1] = bk.matmul_int8_weight_digits(blk.w, xb, idx)
                elif blk.kernel == "f32":
                    xs = xb[idx] if idx is not None else xb
                    cur[blk.r0 : blk.r1] = (blk.w[:, idx] if idx is not None else blk.w) @ xs.astype(np.float32)
                elif idx is not None:
                    i = bk.index(idx)
                    cur[blk.r0 : blk.r1] = blk.w[:, i] @ xb[i]
                else:
                    cur[blk.r0 : blk.r1] = blk.w @ xb
                if all_direct and blk.direct is not None and blk.direct[0]:  # live, so within the input ticks
                    constant[b_i] = bk.copy(cur[blk.r0 : blk.r1])
            if t.stacks:
                cur = bk.pad_row(cur)  # a spare row receives the stacks' padding rows
                for st in t.stacks:
                    res = st.w @ x[st.cols]  # (blocks, R, batch)
                    cur[st.rows] = res.reshape(-1, batch)
                cur = cur[:n]
            if t.sparse is not None:  # one product per (host or neuron, delay) class, straight off its history
                acc = None
                for from_host, d, width, m in t.sparse:
                    back = tick - d if from_host else tick - 1 - d
                    if back >= 0:
                        part = bk.spmm(m, (in_hist if from_host else out_hist)[back % ring][:width])
                        acc = part if acc is None else acc + part
                if acc is not None and t.sparse_ranges is not None:  # few runs of rows: slices, not an index
                    for a, b, o in t.sparse_ranges:
                        cur[a:b] += acc[o : o + b - a]
                elif acc is not None:
                    cur[t.sparse_rows] += acc
        for (b0, b1), bias in zip(t.bias_ranges, prm["bias"], strict=True):  # only the rows with a bias
            cur[b0:b1] += bias
        out = out_hist[r]  # every row is written below
        if p0 < n and fused is not None:  # the same in one compiled pass
            fused.psum_units(cur[p0:], chip.ps_lo, chip.ps_hi, start_psum, tick, out[p0:], out_counts[r, p0:])
        elif p0 < n:  # partial-sum units: forward the clipped sum, keep no state
            ps = bk.clip(cur[p0:], chip.ps_lo, chip.ps_hi)
            out[p0:] = ps
            if starting:  # units not started yet send nothing
                out[p0 + np.nonzero(start_psum > tick)[0]] = 0
            out_counts[r, p0:] = bk.count_rows(out[p0:])
        # stateful neurons: decay, integrate, saturate, fire, reset (docs/chip-model.md)
        drive = cur[:k]
        if i_syn is not None and fused is not None:  # current-based neurons integrate their synaptic current
            fused.synaptic_currents(i_syn, drive, lo, hi, prm, start_state, tick)
        elif i_syn is not None:
            i_syn = drive = _current_step(bk, i_syn, drive, prm, (lo, hi), start_state > tick if starting else None)
        if fused is not None:  # the same operations in one compiled pass (runtime/sim_fused.py)
            fused.neurons(v, drive, lo, hi, prm, flags, start_state, tick, out[:k], out_counts[r, :k])
            fired = out[:k] > 0 if record else None
        else:
            v, fired = _update_numpy(bk, v, drive, prm, flags, (lo, hi), (fire_at, thr_subtract), (fired_buf, tmp_buf),
                                     out[:k], out_counts[r, :k], start_state > tick if starting else None)  # fmt: skip
        packets += float(out_counts[r] @ t.remote)
        emitted += float(out_counts[r, :k].sum())  # 0/1 spikes (integrate neurons never fire)
        for rp in t.relay_packets:  # a relay read through sends what its root sent `lag` ticks earlier
            if tick >= rp.lag:
                sent = (in_counts if rp.from_host else out_counts)[(tick - rp.lag) % ring][rp.roots]
                packets += float(sent @ rp.remote)
                emitted += float(sent.sum())
        updates += batch * (int((chip.start <= tick).sum()) if starting else n)
        decode.step(tick, out)
        if record:
            recorded.append(bk.to_numpy(fired).T.copy())  # (fired may be a buffer the next tick overwrites)
        if trace:
            traced_host.append(bk.to_numpy(in_hist[r]).T[:, : chip.host_width].astype(np.int64))
            traced_out.append(bk.to_numpy(out).T.astype(np.int64))
    run = SimRun(
        outputs=decode.results(v),
        ticks=total,
        synaptic_events=round(events),
        neuron_updates=int(updates),
        packets=round(packets),
        spikes_emitted=round(emitted),
        stats={
            "backend": bk.name,
            "dtype": str(dtype),
            "event_ticks": event_ticks,
            "neuron_update": "compiled" if fused is not None else "numpy",
            "int8_blocks": sum(int(b.int8) for b in t.blocks),
            "float_blocks": sum(int(not b.int8) for b in t.blocks),
            "kernels": {
                k: sum(b.kernel == k for b in t.blocks)
                for k in ("int8", "int8x2", "int8w2", "f32", "")
                if any(b.kernel == k for b in t.blocks)
            },
        },
    )
    back = np.argsort(t.order)  # binary neuron -> internal
    if record:
        spikes = np.zeros((total, batch, n), np.uint8)
        spikes[:, :, t.order[:k]] = np.stack(recorded).astype(np.uint8)
        run.spikes = spikes
        # each output's train over the model's ticks, batch first (None for membrane outputs)
        run.output_spikes = [
            None
            if spec["kind"] == "membrane"
            else np.moveaxis(
                spikes[spec["latency"] : spec["latency"] + chip.ticks, :, chip.image.arrays["OUT "][f"neurons{i}"]], 0, 1
            ).reshape((batch, chip.ticks, *spec["shape"]))
            for i, spec in enumerate(decode.specs)
        ]
    if trace:
        v_full = np.broadcast_to(chip.v_init, (batch, n)).copy()
        v_full[:, t.order[:k]] = bk.to_numpy(v).T.astype(np.int64)
        run.trace = {"host": np.stack(traced_host), "out": np.stack(traced_out)[:, :, back], "v": v_full}
    return run


def _leak(bk: Any, x: Any, inv: Any, decays: Any, mult: Any, shift: Any) -> Any:
    """What a decay removes, (x * mult) >> shift where it decays and 0 elsewhere: floor(x * inv) on a float run (inv =
    mult * 2^-shift, 0 where nothing decays), exact for the integers it holds."""
    return bk.floor_shift(x, inv, None) if bk.is_float else bk.where(decays, (x * mult) >> shift, 0)


def _current_step(bk: Any, i: Any, cur: Any, prm: dict[str, Any], bounds: tuple[int, int], waiting: np.ndarray | None) -> Any:
    """The synaptic currents of current-based neurons (docs/neuron-families.md): I - (I * m >> s), plus the tick's sum,
    saturated to the membrane's range. Rows without a current pass the sum through unchanged (their I decays whole
    and is not clipped); neurons that have not started keep their current."""
    leak = _leak(bk, i, prm["c_inv"], prm["c_decays"], prm["c_mult"], prm["c_shift"])
    new = bk.where(prm["cuba"], bk.add_clip(i - leak, cur, *bounds), cur)
    if waiting is not None:
        held = np.nonzero(waiting)[0]
        new[held] = i[held]
    return new


def _update_numpy(
    bk: Any, v: Any, cur: Any, prm: dict[str, Any], flags: dict[str, bool], bounds: tuple[int, int], fire: tuple[Any, Any],
    buffers: tuple[Any, Any], spikes: Any, counts: np.ndarray, waiting_mask: np.ndarray | None,
) -> tuple[Any, Any]:  # fmt: skip
    """The stateful neurons' update, a whole-array operation per step: decay, integrate, saturate, fire, reset
    (docs/chip-model.md); writes the spikes (0/1 in the run's type) and their counts per neuron; returns the new
    membranes and the fired mask. Neurons in `waiting_mask` have not started: they keep their membrane, send nothing."""
    fire_at, thr_subtract = fire
    fired_buf, tmp_buf = buffers
    waiting = np.nonzero(waiting_mask)[0] if waiting_mask is not None else None
    v_waiting = v[waiting] if waiting is not None else None
    if flags["decay"]:
        v = v - _leak(bk, v, prm["inv"], prm["decays"], prm["mult"], prm["shift"])
    v = bk.add_clip(v, cur, *bounds)
    # (v > thr as v >= thr + 1; never for integrate-only neurons); into buffers of the run: a fresh temporary
    # of this size costs page faults every tick
    fired = np.greater_equal(v, fire_at, out=fired_buf) if fired_buf is not None else v >= fire_at
    if waiting is not None:
        fired[waiting] = False
    spikes[...] = fired  # 0/1 in the run's type: the resets below multiply by it (cheaper than by a bool)
    if flags["subtract_firing"]:
        v = bk.sub_where(v, thr_subtract, spikes, tmp_buf)
    if flags["zero_firing"]:
        v = bk.sub_where(v, v, spikes * prm["zero_firing"])
    if waiting is not None:
        v[waiting] = v_waiting
    counts[...] = bk.row_sums(spikes)  # spikes are 0/1: counts by a matrix-vector product
    return v, fired


SPELL_OUT = 1 << 24  # values: up to this many, the thresholds are spelled out over the batch (64 MB in float32)
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
