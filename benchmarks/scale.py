"""Scale benchmark: synthetic layered networks from 10k to 1M neurons through mapping, binary and simulator.

Each network has `layers` groups of equal size; every neuron reads `fan_in` neurons of the previous
layer in a local window (a 1-D convolution: neighbouring neurons share inputs, so placement matters),
with random int8 weights. Stages timed: build the core IR, partition-cores, place-cores, route,
write the binary, simulate. Peak memory is the process's maximum RSS after each stage. Traffic and
traffic x hops compare sequential, plain METIS (one METIS split, repaired) and nmc's default
(auto partition + annealed placement). Writes the "scale" section of docs/benchmarks.md.

    python benchmarks/scale.py [--sizes 10000 100000 1000000] [--fan-in 12]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float64Type, FloatAttr, IntegerAttr, ModuleOp, StringAttr, TensorType, f32, i64
from xdsl.ir import Block, Region

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section

from nmc.chips import load_chip
from nmc.dialects import core
from nmc.dialects.core_ir import Group, build_neurons, rebalance

HERE = Path(__file__).resolve().parent
CHIPS = [str(HERE / "tianjic-96x96.chip"), str(HERE / "tianjic-160x160.chip")]  # the smallest that holds the network
CHIP = CHIPS[0]
COMPARE_MAX = 2_000_000  # above this many neurons the METIS comparison is skipped (it alone takes minutes)


def chip_for(n_total: int) -> str:
    """The first of CHIPS with room for the network (its neurons fill at most 80 % of the mesh)."""
    for path in CHIPS:
        chip = load_chip(path)
        if n_total <= 0.8 * chip.cores * chip.core["neurons"]:
            return path
    return CHIPS[-1]


def synthetic(n_total: int, layers: int, fan_in: int, seed: int = 0, chip: str = CHIP) -> ModuleOp:
    rng = np.random.default_rng(seed)
    n = n_total // layers
    block = Block(arg_types=[TensorType(f32, [n])])
    inp = core.InputOp.build(
        operands=[block.args[0]],
        result_types=[core.SpikesType(n)],
        properties={
            "encoding": core.EncodingAttr(core.Encoding.RATE),
            "scale": FloatAttr(1.0, Float64Type()),
            "seed": IntegerAttr(0, i64),
        },
    )
    block.add_op(inp)
    prev = inp.output
    half = fan_in // 2
    for layer in range(layers):
        post = np.repeat(np.arange(n), fan_in)
        pre = (post + np.tile(np.arange(fan_in) - half, n)) % n
        weight = rng.integers(-40, 80, pre.size)
        ones = np.ones(n, np.int64)
        g = Group(
            f"layer{layer}",
            "spike",
            [prev],
            n,
            pre,
            post,
            weight,
            ones * 200,
            ones * 0,
            ones * 0,
            reset="subtract",
            compare="ge",
            decay_shift=0,
        )
        op = build_neurons(g)
        block.add_op(op)
        prev = op.output
    dec = core.DecodeOp.build(
        operands=[prev],
        result_types=[TensorType(f32, [n])],
        properties={"kind": core.DecodingAttr(core.Decoding.COUNT), "latency": IntegerAttr(0, i64)},
    )
    block.add_op(dec)
    block.add_op(core.OutputOp.build(operands=[[dec.output]]))
    rebalance(block)
    net = core.NetworkOp.build(
        properties={
            "sym_name": StringAttr("synthetic"),
            "ticks": IntegerAttr(8, i64),
            "dt": FloatAttr(1e-3, Float64Type()),
            "chip": core.ChipAttr(load_chip(chip)),
        },
        regions=[Region(block)],
    )
    return ModuleOp([net])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(n_total: int, fan_in: int, layers: int) -> dict:
    from nmc.chips.binary import decode, encode
    from nmc.dialects.map_layout import assignment, check_mapping, net_view, traffic_pairs
    from nmc.passes.crossbar_kind import traffic_matrix
    from nmc.passes.crossbar_partition import _repaired, lower_bound, metis_parts, partition
    from nmc.passes.partition_cores import PartitionCoresPass
    from nmc.passes.place_cores import PlaceCoresPass
    from nmc.passes.placement import placement_cost, serpentine
    from nmc.passes.route import RoutePass
    from nmc.runtime.simulator import Chip as Simulator
    from nmc.targets.chip_binary import build_image

    ctx = Context()
    chip_path = chip_for(n_total)
    chip = load_chip(chip_path)
    row: dict = {"neurons": n_total, "fan_in": fan_in, "chip": Path(chip_path).name}
    t = time.perf_counter()
    module = synthetic(n_total, layers, fan_in, chip=chip_path)
    row["synapses"] = n_total * fan_in
    row["t_build"] = time.perf_counter() - t
    (net,) = [op for op in module.walk() if isinstance(op, core.NetworkOp)]
    t = time.perf_counter()  # (the partition builds the network's view too: timed with it, as in a compile)
    PartitionCoresPass(strategy="auto").apply(ctx, module)
    row["t_partition"] = time.perf_counter() - t
    row["mem_partition"] = rss_mb()
    t = time.perf_counter()
    PlaceCoresPass(strategy="anneal").apply(ctx, module)
    row["t_place"] = time.perf_counter() - t
    t = time.perf_counter()
    RoutePass().apply(ctx, module)
    row["t_route"] = time.perf_counter() - t
    t = time.perf_counter()
    problems = check_mapping(net, chip)
    row["t_verify"] = time.perf_counter() - t
    row["violations"] = len(problems)
    t = time.perf_counter()
    data = encode(build_image(module))
    row["t_binary"] = time.perf_counter() - t
    row["binary_mb"] = len(data) / 2**20
    row["mem_peak"] = rss_mb()
    row["t_total"] = sum(v for k, v in row.items() if k.startswith("t_"))
    view = net_view(net)  # the view the passes built (cached on the network)
    cores, _ = assignment(net, view)
    row["cores"] = int(cores.max()) + 1
    row["bound"] = max(lower_bound(view, chip).values())
    # mapping quality: sequential vs plain METIS vs nmc
    n_cores = row["cores"]
    sym = traffic_matrix(net, n_cores)
    from nmc.dialects import map as map_d
    from nmc.dialects.ir_arrays import to_numpy

    mesh = next(op for op in net.body.block.ops if isinstance(op, map_d.MeshOp))
    row["nmc_traffic"] = float(traffic_pairs(view, cores)[2].sum())
    row["nmc_traffic_hops"] = placement_cost(sym, to_numpy(mesh.x).astype(int), to_numpy(mesh.y).astype(int))
    others = [("sequential", lambda: partition(view, chip, "sequential"))]
    if n_total <= COMPARE_MAX:
        others.append(("metis", lambda: _repaired(metis_parts(view, chip, None, 0), view, chip)))
    else:
        row.update(metis_traffic=float("nan"), metis_traffic_hops=float("nan"), metis_cores="–")
    for name, make in others:
        cand = make()
        src, dst, w = traffic_pairs(view, cand)
        k = int(cand.max()) + 1
        from scipy import sparse

        m = sparse.coo_matrix((w, (src, dst)), shape=(k, k)).tocsr()
        m = (m + m.T).tocsr()
        pos = serpentine(*chip.mesh)[:k] if k <= chip.cores else None
        row[f"{name}_traffic"] = float(w.sum())
        row[f"{name}_traffic_hops"] = placement_cost(m, pos[:, 0], pos[:, 1]) if pos is not None else float("nan")
        row[f"{name}_cores"] = k
    # simulator throughput on a small batch
    sim = Simulator(decode(data))
    x = np.random.default_rng(1).random((4, n_total // layers)).astype(np.float32)
    t = time.perf_counter()
    run = sim.run(x)
    row["t_sim"] = time.perf_counter() - t
    row["sim_events_per_s"] = run.synaptic_events / row["t_sim"]
    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return row


def _n(value: float) -> str:
    """A count, or a dash where it was not measured (METIS above COMPARE_MAX)."""
    return "–" if value != value else f"{value:.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 5_000_000])
    p.add_argument("--fan-in", type=int, default=12)
    p.add_argument("--layers", type=int, default=4)
    args = p.parse_args()
    rows = [run_size(n, args.fan_in, args.layers) for n in args.sizes]
    lines = [
        "## Scale: synthetic layered networks (benchmarks/scale.py)",
        "",
        f"{args.layers} layers of equal size, each neuron reading {args.fan_in} neighbours of the previous layer "
        f"(1-D local windows), int8 weights, on the tianjic256 core (256 × 256) on a 96 × 96 mesh "
        f"(`benchmarks/tianjic-96x96.chip`), or 160 × 160 where 96 × 96 cannot hold the network. Seconds per stage of the mapping "
        f"back end (partition-cores `auto`, place-cores `anneal`, route, mapping check, binary), peak RSS, and the "
        f"simulator's throughput on 4 samples × 8 ticks. Machine: {machine()}.",
        "",
        "| neurons | synapses | chip | cores (lower bound) | build | partition | place | route | check | binary | total | peak MB | violations | sim events/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['neurons']:,} | {r['synapses']:,} | {r['chip'].removesuffix('.chip')} | {r['cores']:,} ({r['bound']:,}: "
            f"{r['cores'] / r['bound']:.2f}x) | {r['t_build']:.1f} | {r['t_partition']:.1f} | "
            f"{r['t_place']:.1f} | {r['t_route']:.1f} | {r['t_verify']:.1f} | {r['t_binary']:.1f} | {r['t_total']:.1f} | "
            f"{r['mem_peak']:.0f} | {r['violations']} | {r['sim_events_per_s']:.3g} |"
        )
    lines += [
        "",
        "Mapping quality (inter-core packets per spike-tick, and traffic × hops; sequential and METIS are laid on the "
        f"serpentine, nmc = auto partition + annealed placement; METIS only up to {COMPARE_MAX:,} neurons):",
        "",
        "| neurons | sequential traffic | METIS traffic | nmc traffic | sequential t×h | METIS t×h | nmc t×h | t×h saved vs sequential | cores (seq / METIS / nmc) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gain = 1 - r["nmc_traffic_hops"] / r["sequential_traffic_hops"] if r["sequential_traffic_hops"] else 0.0
        lines.append(
            f"| {r['neurons']:,} | {r['sequential_traffic']:.0f} | {_n(r['metis_traffic'])} | {r['nmc_traffic']:.0f} | "
            f"{r['sequential_traffic_hops']:.0f} | {_n(r['metis_traffic_hops'])} | {r['nmc_traffic_hops']:.0f} | {gain:.1%} | "
            f"{r['sequential_cores']} / {r['metis_cores']} / {r['cores']} |"
        )
    lines += ["", "Targets: 1M neurons end to end under 15 s, 5M under 90 s, peak under 16 GB, zero violations, cores "
              "within 1.5x the lower bound. Measured: " + "; ".join(
                  f"{r['neurons']:,}: {r['t_total']:.1f} s, {r['mem_peak'] / 1024:.1f} GB, {r['violations']} violations, "
                  f"{r['cores'] / r['bound']:.2f}x the bound" for r in rows) + "."]  # fmt: skip
    write_section("scale", "\n".join(lines))


if __name__ == "__main__":
    main()
