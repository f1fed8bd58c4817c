"""TNN column hardware: synthesis of several column shapes, TNNGen's forecast and a refined one (docs/benchmarks.md, tnn-hw).

Each p x q column (3 time bits, 3-bit weights, RNL, 1-WTA, on-chip STDP, as TNNGen's) is
emitted by `nmc-compile --target verilog --synth` onto OSU 0.18 um and timed by OpenSTA at
100 MHz. Per metric (cells, area, leakage, critical-path delay = period - slack) two models are
fitted on all but the two largest shapes and scored on those two (held-out mean error); the
model a metric keeps is the one with the lower leave-one-out error on the fitting shapes (so the
held-out shapes do not choose it). The stored fit (targets/tnn_forecast.json, read by
`nmc-compile --forecast`) is refitted on every shape. With --ucr, the UCR designs of
benchmarks/tnn.py are synthesized too: TNNGen's headline table for this flow.

    python benchmarks/tnn_hw.py [--shapes 16x2,32x12,...] [--ucr] [--rows-from LOG ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _report import machine, write_section

# TNNGen's 65 x 2, 32 x 12 and 64 x 8, and smaller and in-between ones; 242 x 4 (968 synapses) ran into
# the 3600 s synthesis limit (ABC's timing-driven mapping: 100 s for 512 synapses, over an hour for 968),
# so 128 x 10, 128 x 24 and 288 x 36 do not fit in time on this machine either
SHAPES = ((16, 2), (32, 4), (65, 2), (24, 8), (32, 12), (64, 8), (96, 6))
CLOCK_MHZ = 100.0
TIME_BITS = WEIGHT_BITS = 3  # TNNGen's columns
ROOT = Path(__file__).resolve().parent.parent
FIT_PATH = ROOT / "targets" / "tnn_forecast.json"
PREVIOUS: dict[tuple[int, int, int] | str, dict] = {}  # --rows-from: (p, q, time bits) or UCR set -> earlier numbers


def synthesize_column(p: int, q: int, seed: int = 0, model=None) -> dict:
    """Yosys + OpenSTA numbers of one p x q column with random weights and the default threshold (or of `model`)."""
    import nmc
    from nmc import tnn

    key = (p, q, model.time_bits if model is not None else TIME_BITS)
    if key in PREVIOUS:
        return PREVIOUS[key]
    if model is None:
        x = np.random.default_rng(seed).normal(size=(16, p))
        model = tnn.build(x, q, encoder="latency", fields=1, time_bits=TIME_BITS, weight_bits=WEIGHT_BITS, seed=seed)
    t0 = time.perf_counter()
    compiled = nmc.compile(model, target="verilog", synth=True, clock_mhz=CLOCK_MHZ, tb_samples=1)
    seconds = time.perf_counter() - t0
    s = compiled.report["synthesis"]
    sta = s["sta"]
    return {
        "p": p, "q": q, "cells": s["osu018_cells"], "area_um2": s["osu018_area_um2"],
        "leakage_w": sta["power_leakage_w"], "total_power_w": sta["power_total_w"],
        "slack_ns": sta["worst_slack_ns"], "delay_ns": 1000.0 / CLOCK_MHZ - sta["worst_slack_ns"],
        "latency_ns": sta["latency_per_sample_ns"], "seconds": round(seconds, 1), "time_bits": model.time_bits,
    }  # fmt: skip


def loo_error(model: str, metric: str, rows: list[dict]) -> float:
    from nmc.targets.tnn_forecast import fit, predict

    errs = []
    for i, r in enumerate(rows):
        rest = rows[:i] + rows[i + 1 :]
        coef = fit(model, metric, [(a["p"], a["q"]) for a in rest], [a[metric] for a in rest])
        errs.append(abs(predict(model, metric, coef, r["p"], r["q"]) - r[metric]) / abs(r[metric]))
    return float(np.mean(errs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default=",".join(f"{p}x{q}" for p, q in SHAPES))
    ap.add_argument("--ucr", action="store_true", help="also synthesize the UCR designs of benchmarks/tnn.py")
    ap.add_argument(
        "--rows-from", metavar="LOG", nargs="*", default=[],
        help="reuse the columns previous runs of this script printed (their JSON lines) instead of synthesizing them again",
    )  # fmt: skip
    args = ap.parse_args()
    for log in args.rows_from:
        for line in Path(log).read_text().splitlines():
            if line.startswith('{"p": '):  # a column shape's row
                row = json.loads(line)
                PREVIOUS[(row["p"], row["q"], row.get("time_bits", TIME_BITS))] = row
            elif '{"p": ' in line:  # a UCR design's row, after the set's name
                PREVIOUS[line.split()[0]] = json.loads(line[line.index('{"p": ') :])
    from nmc.targets.tnn_forecast import METRICS, MODELS, fit, predict

    shapes = sorted((tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")), key=lambda s: s[0] * s[1])
    rows = []
    for p, q in shapes:
        rows.append(synthesize_column(p, q))
        print(json.dumps(rows[-1]), flush=True)
    train, held = rows[:-2], rows[-2:]
    stored: dict = {
        "clock_mhz": CLOCK_MHZ, "time_bits": TIME_BITS, "weight_bits": WEIGHT_BITS, "on_chip_learning": True,
        "shapes": [[r["p"], r["q"]] for r in rows], "metrics": {},
    }  # fmt: skip
    table = []
    for metric in METRICS:
        entry: dict = {"coefficients": {}, "held_out_error": {}, "loo_error": {}}
        for model in MODELS:
            coef = fit(model, metric, [(r["p"], r["q"]) for r in train], [r[metric] for r in train])
            err = [abs(predict(model, metric, coef, r["p"], r["q"]) - r[metric]) / abs(r[metric]) for r in held]
            entry["held_out_error"][model] = float(np.mean(err))
            entry["loo_error"][model] = loo_error(model, metric, train)
            entry["coefficients"][model] = fit(model, metric, [(r["p"], r["q"]) for r in rows], [r[metric] for r in rows])
        entry["model"] = min(MODELS, key=lambda m: entry["loo_error"][m])
        stored["metrics"][metric] = entry
        table.append((metric, entry))
    FIT_PATH.write_text(json.dumps(stored, indent=1) + "\n")

    held_names = ", ".join(f"{r['p']} x {r['q']}" for r in held)
    lines = [
        "## TNN column hardware and its forecast (`benchmarks/tnn_hw.py`)",
        "",
        f"Machine: {machine()}. Columns of p synapses x q neurons (3 time bits, 3-bit weights, RNL, 1-WTA, on-chip "
        f"STDP), `nmc-compile --target verilog --synth`: Yosys onto OSU 0.18 um (qflow-tech-osu018), OpenSTA at "
        f"{CLOCK_MHZ:g} MHz with its default switching activity. Latency = clock cycles per sample / clock.",
        "",
        "| p x q | synapses | cells | area (um^2) | leakage (nW) | total power (mW) | worst slack (ns) | latency/sample (ns) | synthesis (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['p']} x {r['q']} | {r['p'] * r['q']} | {r['cells']} | {r['area_um2']:.0f} | {r['leakage_w'] * 1e9:.1f} "
            f"| {r['total_power_w'] * 1e3:.3f} | {r['slack_ns']:.2f} | {r['latency_ns']:.0f} | {r['seconds']:.0f} |"
        )
    lines += [
        "",
        f"Forecast: fitted on the {len(train)} smaller shapes, scored on the 2 largest "
        f"({held_names}). tnngen = TNNGen's a + b p q; refined = a + b p q + "
        "c q ceil(log2(p + 1)) (delay: a + b log2 p + c log2 q). The kept model (lower leave-one-out error on the "
        "fitting shapes) is what `nmc-compile --forecast` uses, refitted on every shape.",
        "",
        "| metric | held-out error, tnngen | held-out error, refined | kept |",
        "|---|---|---|---|",
    ]
    for metric, e in table:
        h = e["held_out_error"]
        lines.append(f"| {metric} | {h['tnngen']:.1%} | {h['refined']:.1%} | {e['model']} |")
    if args.ucr:
        lines += ["", *ucr_table()]
    write_section("tnn-hw", "\n".join(lines))


def ucr_table(max_synthesized: int = 512) -> list[str]:
    """The TNN benchmark's designs: synthesized where small enough, else forecast from the stored fit."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tnn import SETS, design, load

    from nmc.targets.tnn_forecast import forecast_column, load_fit

    stored = load_fit()
    out = [
        f"UCR designs of `benchmarks/tnn.py` (its setting: 5 time bits, 3-bit weights, on-chip STDP; {CLOCK_MHZ:g} MHz). "
        f"Columns of at most {max_synthesized} synapses are synthesized (and forecast, to show the forecast's error "
        f"at 5 time bits: the fit is at {TIME_BITS}); the larger ones only forecast (timing-driven synthesis of 968 "
        "synapses ran past an hour here).",
        "",
        "| set | p x q | source | cells | area (um^2) | leakage (nW) | worst slack (ns) | latency/sample (ns) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    gaps = []
    for name in SETS:
        x, y = load(name)
        model = design(x, len(set(y.tolist())), 0)
        layer = model.layers[0]
        p, q = layer.synapses, layer.neurons
        cycles = 1 + (1 + (1 << model.time_bits)) + 1
        f = forecast_column(stored, p, q, CLOCK_MHZ)
        rows = [("forecast", f["cells"], f["area_um2"], f["leakage_w"], f["slack_ns"])]
        if p * q <= max_synthesized:
            r = PREVIOUS.get(name) or synthesize_column(p, q, model=model)
            print(name, json.dumps(r), flush=True)
            rows.insert(0, ("synthesized", r["cells"], r["area_um2"], r["leakage_w"], r["slack_ns"]))
            gaps.append(1 - f["area_um2"] / r["area_um2"])
        for source, cells, area, leak, slack in rows:
            out.append(
                f"| {name} | {p} x {q} | {source} | {cells:.0f} | {area:.0f} | {leak * 1e9:.1f} | {slack:.2f} "
                f"| {cycles * 1000 / CLOCK_MHZ:.0f} |"
            )
    if gaps:
        out += [
            "",
            f"On the synthesized UCR designs the forecast (fit at {TIME_BITS} time bits) is {np.mean(gaps):.0%} below the "
            "synthesized area: their 5-bit spike times widen every synapse's comparators and STDP unit, which a fit over "
            "p and q alone cannot see. Read the forecast rows as lower bounds.",
        ]
    return out


if __name__ == "__main__":
    main()
