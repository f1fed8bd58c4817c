"""Fuzz targets at scale: seeded mutators (tests/fuzzing.py) over the chip binary reader (+ the
simulator on one case in ten) and the chip description parser. Counts valid inputs, clean
one-line refusals and crashes (any other exception); writes the "fuzz" section of docs/benchmarks.md.

    python benchmarks/fuzz.py [--cases 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

from tests import fuzzing as fz


def run(name: str, cases, check) -> tuple[str, collections.Counter, dict]:
    counts: collections.Counter = collections.Counter()
    crashes: dict = {}
    t0 = time.perf_counter()
    slowest = 0.0
    for i, (what, *data) in enumerate(cases):
        start = time.perf_counter()
        try:
            counts[check(i, *data)] += 1
        except Exception as e:  # a crash: what the fuzzer is for
            counts["crash"] += 1
            crashes.setdefault(f"{type(e).__name__}: {str(e)[:80]}", what)
        slowest = max(slowest, time.perf_counter() - start)
    seconds = time.perf_counter() - t0
    row = (
        f"| {name} | {sum(counts.values()):,} | {counts['ok']:,} | {counts['refused']:,} | {counts['crash']} | "
        f"{seconds:.0f} | {slowest:.2f} |"
    )
    return row, counts, crashes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sources = fz.source_binaries()
    calib = np.load(Path(__file__).resolve().parent.parent / "examples" / "digits_calib.npy")[:20]
    rows, all_crashes = [], {}
    scratch = Path(tempfile.mkdtemp(prefix="nmc-fuzz-"))
    from tests import nir_models

    nir_source = nir_models.mlp_nir(scratch / "mlp.nir")
    binaries = [
        (f"chip binary: {what} (CRC recomputed), reader + simulator", fz.binary_cases(args.seed, args.cases, sources[key]),
         lambda i, data: fz.check_binary(data, run=i % 10 == 0))
        for key, what in (("digits_mlp", "dense MLP"), ("digits_cnn", "CNN with partial sums"),
                          ("residual_truenorth4", "residual CNN with relays, truenorth4"), ("tnn", "TNN"))
    ]  # fmt: skip
    for name, cases, check in (
        *binaries,
        ("chip description parser", fz.chip_cases(args.seed, args.cases), lambda _i, text: fz.check_chip(text)),
        ("chip descriptions, every accepted one compiled (MLP; TNN where it has columns)", fz.chip_cases(args.seed + 1, args.cases),
         lambda _i, text: fz.check_chip_compile(text, calib)),
        ("IR parser + verifiers (mutated lit files)", fz.ir_cases(args.seed, args.cases), lambda _i, text: fz.check_ir(text)),
        ("IR that verifies, lowered on by nmc-opt (mapping pipeline, chip dump)", fz.ir_cases(args.seed + 2, args.cases),
         lambda _i, text: fz.check_ir_pipeline(text, scratch)),
        ("model loader (.pt pickles, .pt2 exports), 1 GB memory bound", fz.model_cases(args.seed, args.cases, fz.model_sources()),
         lambda _i, suffix, data: fz.check_model(data, suffix, scratch)),
        ("NIR front end (an snnTorch-trained graph, mutated)", fz.nir_cases(args.seed, args.cases, nir_source),
         lambda _i, data: fz.check_nir(data, scratch)),
    ):  # fmt: skip
        row, _counts, crashes = run(name, cases, check)
        rows.append(row)
        all_crashes.update(crashes)
        print(row, flush=True)
    body = "\n".join([
        "## Fuzzing (`benchmarks/fuzz.py`)", "",
        f"Seed {args.seed}, {machine()}. Mutations: metadata values, types and keys, array elements, lengths and element "
        "types, index arrays edited as a whole (values around their range, reversed, shuffled, shifted by one, constant, "
        "one past the end), raw bytes (CRC recomputed so the structure checks are reached), on four binaries (a dense MLP, "
        "a CNN with partial sums, a residual CNN with fan-out and delay relays on truenorth4, a TNN; one case in ten is "
        "also simulated); chip files and every lit test file with inserted, "
        "deleted and copied text (IR: parsed and verified as nmc-opt does, declared sizes checked, under a 1 GB memory bound); the example models (.pt pickles "
        "of an MLP, a CNN and an SNN, the CNN's .pt2 export) with flipped pickle opcodes inside a well-formed zip, edited "
        "export JSON, truncated/doubled/NaN tensor storages, or raw bytes, loaded and imported as nmc-compile does under a "
        "1 GB address-space bound; a NIR file written by snnTorch's exporter with node fields replaced (wrong shapes, NaN, "
        "empty, zero), edges deleted or added (cycles) or raw bytes flipped, imported as nmc-compile does (cases nir.write "
        "cannot store are skipped, so fewer than the count are run). A crash is any exception other than the one-line refusal (for compiled chip descriptions also a numpy warning) (a memory blow-up would be one). "
        "The pytest suite runs 2,000 cases of each (500 of the model loader).", "",
        "| target | cases | valid | refused (one line) | crashes | seconds | slowest case (s) |",
        "|---|---:|---:|---:|---:|---:|---:|", *rows, "",
        *(f"* crash: {k} (from: {v})" for k, v in all_crashes.items()),
        "Found and fixed by it: a core network without one synapse breaking partition-cores (IndexError), a chip whose "
        "leak holds no bias scaling weights to 0 (division by zero), a negative encoder seed in META reaching numpy "
        "(ValueError), a zip version Python's zipfile refuses (NotImplementedError while sniffing), a membrane output naming a partial-sum unit (an IndexError in the tick loop), relays "
        "read through that no synapse reads (an empty max), TNN META fields the reader never checked (seed, "
        "stdp_cases, stabilise, encoder input_shape and znorm, ENC bounds per feature: TypeError/KeyError in the TNN "
        "simulator), arrays of unequal length in a binary section, forged array shapes, and xDSL 0.74's "
        "string-literal regex, which backtracked exponentially on an unclosed quote (one deleted `\"` hung nmc-opt for "
        "minutes; nmc.dialects installs a linear equivalent), and xDSL parser assertions on malformed literals (now one-line "
        "syntax errors); in the model loader, torch's unpickler failing with KeyError/TypeError on damaged pickles and "
        "zipfile's NotImplementedError/CRC errors on damaged archives (now one-line refusals); in the NIR front end, bias sizes, "
        "summed edges of different shapes, NaN/empty parameters and non-positive thresholds reaching the IR verifier "
        "(now refused by node).",
    ])  # fmt: skip
    write_section("fuzz", body)
    print(body)


if __name__ == "__main__":
    main()
