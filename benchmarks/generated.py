"""Generated corpora: hundreds of drawn models, each compiled on every preset and checked (docs/benchmarks.md).

Models come from tests/model_gen.py (seeded): ANNs from the grammar nmc claims (dense, Conv1d/2d with any
kernel/stride/padding/groups, avg/max/adaptive pooling, BatchNorm, ReLU/ReLU6/Hardtanh(0, c), residual adds,
channel concatenation, view/flatten) and nmc.nn SNNs (IF/LIF, dense or convolutional), each trained a few
epochs on sklearn digits. Every model is compiled with `nmc.compile` for every preset with crossbar cores
(200 calibration images), and either compiles or is refused with one line naming the limit; a compiled model's
chip-simulator decisions on 200 test images are compared with the torch model's own (float ANN, or the SNN's
spike counts). A sample of small ANNs also goes through `--target verilog`, whose Icarus testbench must
reproduce the simulator's spikes. `--part finetune`: generated CNNs compiled at 4-bit weights with and without
`--finetune`.

    python benchmarks/generated.py --part ann|snn|finetune [--count N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from nmc.errors import NmcError
from tests import model_gen as mg

# every one-chip preset with crossbar cores (the board presets' cores are tianjic256's, and their runs equal its own:
# tests/test_board.py); loihi1: multiplicative leak, current-based neurons, reset to zero, spike inputs only
PRESETS = ("tiny", "mini", "tianjic256", "truenorth4", "tnn16", "loihi1")
# --part snn also compiles for copies of tianjic256 that differ in one hardware choice: what the agreement costs
VARIANTS = {
    "tianjic256, multiply leak": {"leak linear, shift": "leak linear, shift, multiply\n    leak_multiplier_bits 12"},
    "tianjic256, 16-bit weights": {"weight_bits 8": "weight_bits 16"},
    "tianjic256, both": {
        "leak linear, shift": "leak linear, shift, multiply\n    leak_multiplier_bits 12",
        "weight_bits 8": "weight_bits 16",
    },
}
CALIBRATION, TEST = 200, 200
ROWS = "/tmp/nmc-generated-{part}.json"  # every result row, so --render can rewrite the tables without a rerun
MIN_FLOAT = 0.8  # --part finetune: a drawn CNN must have learned the task (float test accuracy) to be fine-tuned
REASONS = (  # refusal message -> class (first match)
    (r"needs (at least )?\d+ cores|neurons \(\d+x\d+ cores of \d+\), got \d+ neurons", "mesh too small for the network"),
    (r"axon delays <= \d+", "paths of unequal depth need axon delays the chip lacks"),
    (r"adds direct \(graded\) inputs to spikes", "quantization gate: direct inputs and spikes share a layer's scale"),
    (r"converted SNN agrees with the ANN", "conversion check: the SNN's decisions < 90 % of the ANN's"),
    (r"agrees with the unquantized one", "quantization gate: chip decisions < 90 % of the unquantized network's"),
    (r"recurrent synapses alone give a neuron", "recurrent fan-in past one core's axons"),  # before fan-in: it names partial sums
    (r"fan-in|partial sums", "fan-in past a core without partial sums"),
    (r"leak kinds linear, got decay shift", "LIF decay on a chip whose leak is linear only"),
    (r"leak kinds linear, got current decay shift", "current decay on a chip whose leak is linear only"),
    (r"neuron families .* got current-based", "current-based neurons on a chip without them"),
    (r"reset modes .* got ", "a reset mode the chip lacks"),
    (r"thresholds in \[", "a threshold past the chip's threshold width"),
    (r"not a layer nmc converts|is not supported|only ", "a layer outside the supported grammar"),
)


def reason_class(message: str) -> str:
    return next((label for pattern, label in REASONS if re.search(pattern, message)), "other: " + message[:80])


def variant_chips() -> dict:
    """VARIANTS as parsed chips: tianjic256's text with the lines replaced (the name kept: it is a copy)."""
    from importlib.resources import files

    from nmc.chips import parse_chip

    text = (files("nmc.chips") / "tianjic256.chip").read_text()
    out = {}
    for name, edits in VARIANTS.items():
        edited = text
        for old, new in edits.items():
            assert old in edited, old
            edited = edited.replace(old, new)
        out[name] = parse_chip(edited, name)
    return out


def compile_row(model, input_shape, xcal, xte, ref, presets=PRESETS) -> dict:
    """Every preset (a name, or name -> parsed chip): ('ok', agreement, seconds, top-class agreement) or ('refused',
    message)."""
    cells = {}
    for name in presets:
        chip = presets[name] if isinstance(presets, dict) else name
        t0 = time.perf_counter()
        try:
            c = nmc.compile(model, calibration=xcal[:CALIBRATION], chip=chip, input_shape=input_shape)
            decided = c.run(xte[:TEST]).argmax(1)
            agree = float((decided == ref.argmax(1)).mean())
            top = float((ref[np.arange(len(decided)), decided] == ref.max(1)).mean())  # one of torch's tied best
            cells[name] = ("ok", agree, time.perf_counter() - t0, top)
        except NmcError as e:
            message = str(e)
            assert "Traceback" not in message
            cells[name] = ("refused", message.splitlines()[-1] if "violation" in message else message)
    return cells


def verilog_check(g: mg.Generated, xtr) -> str:
    """--target verilog on the default preset, then Icarus: 'passed', 'FAILED', or the refusal."""
    import subprocess

    with tempfile.TemporaryDirectory() as d:
        try:
            c = nmc.compile(g.model, calibration=xtr[:2], input_shape=g.input_shape, target="verilog", allow_accuracy_loss=True)
            c.save(d)
        except NmcError as e:
            return "refused: " + str(e).splitlines()[0][:100]
        folder = next(Path(d).rglob("tb_*.v")).parent
        sources = sorted(p.name for p in folder.glob("*.v"))
        subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", *sources], cwd=folder, check=True, capture_output=True)
        out = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=folder, capture_output=True, text=True, timeout=900).stdout
        return "passed" if "PASS:" in out else "FAILED"


def run_corpus(part: str, count: int, verilog_every: int) -> None:
    """part: ann, snn (nmc.nn IF/LIF and snnTorch via NIR) or rsnn (nmc.nn recurrent and current-based)."""
    spiking = part != "ann"
    from tests import nir_models

    rows = []
    variants = variant_chips() if part == "snn" else {}
    t_start = time.perf_counter()
    for seed in range(count):
        if part == "snn" and seed % 2:  # every other SNN: snnTorch, through its own NIR exporter
            with tempfile.TemporaryDirectory() as d:
                path, arch = mg.snntorch_nir(seed, Path(d) / "model.nir")
                xte, yte = nir_models.spike_digits(1, test=True, flat=True)
                xcal = nir_models.spike_digits(0, test=False, flat=True)[0]
                ref = nir_models.snntorch_counts(path, xte[:TEST])
                row = {"seed": seed, "family": "snntorch-nir", "arch": arch}
                row["cells"] = compile_row(path, None, xcal, xte, ref, PRESETS)
                row["variants"] = compile_row(path, None, xcal, xte, ref, variants)
        else:
            g = {"ann": mg.ann, "snn": mg.snn, "rsnn": mg.rsnn}[part](seed)
            xtr, xte, ytr, yte = mg.data(g.input_shape)
            mg.train(g, xtr, ytr, epochs=4 if spiking else 8)
            ref = mg.scores(g, xte[:TEST])
            fire = mg.firing(seed)
            arch = mg.describe(g.model) + (f" (reset {fire['reset']}, fire at {fire['compare']})" if spiking else "")
            row = {"seed": seed, "family": g.family, "arch": arch}
            row["cells"] = compile_row(g.model, g.input_shape, xtr, xte, ref, PRESETS)
            if variants:
                row["variants"] = compile_row(g.model, g.input_shape, xtr, xte, ref, variants)
            if verilog_every and seed % verilog_every == 0:
                row["verilog"] = verilog_check(g, xtr)
        row["acc"] = float((ref.argmax(1) == yte[:TEST]).mean())
        rows.append(row)
        short = {k: (f"{v[1]:.3f}" if v[0] == "ok" else "R") for k, v in row["cells"].items()}
        print(seed, row["family"], f"{row['acc']:.3f}", short, row.get("verilog", ""), flush=True)
    seconds = time.perf_counter() - t_start
    Path(ROWS.format(part=part)).write_text(json.dumps({"rows": rows, "seconds": seconds}))
    write_corpus(rows, part, seconds, verilog_every)


def agreement_cells(rows: list[dict], key: str, chip: str) -> tuple[list, tuple[str, ...]]:
    """The compiled rows of one chip, and its table cells: median, 5th percentile, worst (seed), top-class median,
    compile seconds median."""
    ok = [(r[key][chip][1], r["seed"], r[key][chip][2], r[key][chip][3]) for r in rows if r[key][chip][0] == "ok"]
    if not ok:
        return ok, ("—",) * 5
    agree = np.array([a for a, *_ in ok])
    worst = min(ok)
    return ok, (f"{100 * np.median(agree):.1f} %", f"{100 * np.percentile(agree, 5):.1f} %",
                f"{100 * worst[0]:.1f} % ({worst[1]})", f"{100 * np.median([t for *_, t in ok]):.1f} %",
                f"{np.median([s for _, _, s, _ in ok]):.1f}")  # fmt: skip


def conversion_lines(rows: list[dict]) -> list[str]:
    """--part ann: the conversion check's refusals, split by whether the drawn model learned the task."""
    refused = [(r, c) for r in rows for c in PRESETS if r["cells"][c][0] == "refused" and "converted SNN" in r["cells"][c][1]]
    if not refused:
        return []
    learned = Counter(c for r, c in refused if r["acc"] >= MIN_FLOAT)

    def clipped(r: dict) -> bool:
        return bool(re.search(r"Hardtanh|ReLU6", r["arch"]))

    zero = [r for r in rows if r["acc"] >= MIN_FLOAT and "loihi1" in r["cells"]]
    rate = {
        kind: (sum(r["cells"]["loihi1"][0] == "refused" and "converted SNN" in r["cells"]["loihi1"][1] for r in sel), len(sel))
        for kind, sel in (("with", [r for r in zero if clipped(r)]), ("without", [r for r in zero if not clipped(r)]))
    }
    return [
        "",
        f"The conversion check (the SNN before quantization against the ANN, docs/frontend.md) refused {len(refused)} "
        f"(model, preset) pairs; on models that learned (torch accuracy >= {100 * MIN_FLOAT:.0f} %): "
        + ", ".join(f"{c} {learned.get(c, 0)}" for c in PRESETS)
        + ". loihi1 resets neurons to zero only, so a converted neuron's rate is 1 / ceil(threshold / input) at any "
        "number of timesteps; of the learned models it refuses "
        + " and ".join(f"{n} of {m} {kind}" for kind, (n, m) in rate.items())
        + " clipped ReLUs (Hardtanh, ReLU6); which structures lose the most at reset to zero is not pinned down.",
    ]


def variant_lines(rows: list[dict]) -> list[str]:
    """--part snn: the same models on copies of tianjic256 that differ in one hardware choice (VARIANTS)."""
    if not rows or "variants" not in rows[0]:
        return []
    lines = [
        "",
        "Where the default chip's disagreement comes from: the same models on copies of tianjic256 that change one "
        "hardware choice. tianjic256's leak is a shift (`V -= V >> s`: beta 0.8, 0.9, 0.95 run as 0.75, 0.875, "
        "0.9375) and its weights are 8 bits; a 12-bit multiplicative leak (loihi1's) realises every drawn beta within "
        "1/4096.",
        "",
        "| chip | compiled | agreement median | 5th percentile | worst (seed) | top-class median | compile s median |",
        "|---|---|---|---|---|---|---|",
    ]
    medians = []
    for name, key in [("tianjic256", "cells"), *((v, "variants") for v in VARIANTS)]:
        ok, cells = agreement_cells(rows, key, name)
        lines.append(f"| {name} | {len(ok)} | " + " | ".join(cells) + " |")
        medians.append(cells[0])
    lines += [
        "",
        f"Median agreement {medians[0]} on the preset, {medians[1]} with the multiplicative leak, {medians[2]} with "
        f"16-bit weights, {medians[3]} with both: what separates the default chip's decisions from the trained "
        "network's is its leak and weight widths, a hardware choice, not a compiler loss; `nmc-compile` states the "
        "leak's share in its summary (`leak: the chip's shift decay rounds beta in N population(s): ...`, with the "
        "betas the chip runs exactly). Tried in the compiler and not kept: choosing each layer's shift (floor or ceil "
        "of -log2(1 - beta)) by calibration agreement, even with hindsight on the test images (median unchanged on 30 "
        "models), and scaling the threshold by (1 - beta) / (1 - beta_chip) to keep the leak's DC gain (median down 1 "
        "point).",
    ]
    return lines


def write_corpus(rows: list[dict], part: str, seconds: float, verilog_every: int) -> None:
    spiking = part != "ann"
    what = {
        "ann": "ANNs",
        "snn": "SNNs (nmc.nn and snnTorch via NIR)",
        "rsnn": "recurrent and current-based SNNs (nmc.nn RLIF, RCubaLIF, CubaLIF)",
    }[part]
    name = f"generated-{part}"
    fams = Counter(r["family"] for r in rows)
    lines = [
        f"## Generated {what} (`benchmarks/generated.py --part {part}`)",
        "",
        f"Machine: {machine()}; {seconds / 60:.0f} min. {len(rows)} models drawn by tests/model_gen.py (seeds 0..{len(rows) - 1}; "
        + ", ".join(f"{n} {f}" for f, n in sorted(fams.items()))
        + f"), trained {'4' if spiking else '8'} epochs on sklearn digits, compiled for "
        + "every one-chip preset with crossbar cores "
        + f"({CALIBRATION} calibration images, default flags); agreement = the chip simulator's class equals the torch "
        f"model's on {TEST} test images"
        + (
            " (nmc.nn: spike counts over 16 ticks, images as currents"
            + ("; snnTorch: its own run of the NIR file, spike-coded images, 32 ticks" if part == "snn" else "")
            + "; first-index argmax on both; 'top' = the chip's class is one of torch's tied highest counts; nmc.nn "
            "models draw reset (subtract or zero) and comparison (ge or gt) per model)."
            if spiking
            else " (float ANN)."
        )
        + " Refusals say why in one line; their classes are below.",
        "",
        "| preset | compiled | refused | agreement median | 5th percentile | worst (seed) | top-class median | compile s median |",
        "|---|---|---|---|---|---|---|---|",
    ]
    all_agree = []
    for chip in PRESETS:
        ok, cells = agreement_cells(rows, "cells", chip)
        all_agree += [a for a, *_ in ok]
        lines.append(f"| {chip} | {len(ok)} | {len(rows) - len(ok)} | " + " | ".join(cells) + " |")
    refusals = Counter(
        (reason_class(r["cells"][c][1]), c) for r in rows for c in PRESETS if r["cells"][c][0] == "refused"
    )  # fmt: skip
    by_class: dict[str, dict[str, int]] = {}
    for (label, chip), n in refusals.items():
        by_class.setdefault(label, {})[chip] = n
    learned = [r["cells"][c][1] for r in rows for c in PRESETS if r["cells"][c][0] == "ok" and r["acc"] >= MIN_FLOAT]
    weak = sum(r["acc"] < MIN_FLOAT for r in rows)
    lines += [
        "",
        f"All compiled (model, preset) pairs: {len(all_agree)}, agreement median {100 * np.median(all_agree):.1f} %, "
        f"mean {100 * np.mean(all_agree):.1f} %, {sum(a < 0.95 for a in all_agree)} below 95 %. The low tail is the "
        f"{weak} drawn models that did not learn digits in their few epochs (torch accuracy < {100 * MIN_FLOAT:.0f} %): "
        "their class scores are near ties, which any rounding flips. On the models that did learn: "
        f"{len(learned)} pairs, median {100 * np.median(learned):.1f} %, 5th percentile "
        f"{100 * np.percentile(learned, 5):.1f} %, worst {100 * min(learned):.1f} %.",
        *conversion_lines(rows),
        *variant_lines(rows),
        "",
        "Refusals by class (each one line naming the layer or limit and a fix):",
        "",
        "| reason | " + " | ".join(PRESETS) + " |",
        "|---|" + "---|" * len(PRESETS),
    ]
    for label, per in sorted(by_class.items(), key=lambda kv: -sum(kv[1].values())):
        lines.append(f"| {label} | " + " | ".join(str(per.get(c, 0)) for c in PRESETS) + " |")
    examples = {}
    for r in rows:
        for c in PRESETS:
            if r["cells"][c][0] == "refused":
                examples.setdefault(reason_class(r["cells"][c][1]), (r["seed"], c, r["cells"][c][1]))
    lines += ["", "One message per class:", ""]
    lines += [f"- seed {s} on {c}: `{m[:220]}`" for _label, (s, c, m) in sorted(examples.items())]
    worst = sorted(
        (r["cells"][c][1], r["seed"], c, r["arch"], r["acc"]) for r in rows for c in PRESETS if r["cells"][c][0] == "ok"
    )[:3]
    lines += ["", "Worst agreements (with the torch model's own test accuracy):", ""]
    lines += [f"- {100 * a:.1f} %: seed {s} on {c} (torch {100 * acc:.1f} %): {arch}" for a, s, c, arch, acc in worst]
    checked = [r for r in rows if "verilog" in r]
    if checked:
        results = Counter(r["verilog"].split(":")[0] for r in checked)
        lines += ["", f"`--target verilog` on tianjic256 for every {verilog_every}th model (the Icarus testbench must "
                  "reproduce the simulator's spikes on 2 calibration images): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(results.items())) + "."]  # fmt: skip
    write_section(name, "\n".join(lines))


def run_finetune(count: int) -> None:
    """Generated CNNs at 4-bit weights on the default chip: the chip's test accuracy without and with --finetune."""
    rows, seed, t_start = [], 0, time.perf_counter()
    not_chains: list[tuple[int, str]] = []  # fine-tuning trains chains only: the refusal, counted, not in the statistics
    weak: list[int] = []
    while len(rows) < count:
        g = mg.ann(seed)
        seed += 1
        if not g.family.startswith("cnn"):
            continue
        xtr, xte, ytr, yte = mg.data(g.input_shape)
        mg.train(g, xtr, ytr)
        float_acc = float((mg.decisions(g, xte) == yte).mean())
        if float_acc < MIN_FLOAT:  # a draw that did not learn (e.g. one conv, then a global pool of 4 channels)
            weak.append(seed - 1)
            continue
        options = {"calibration": xtr[:CALIBRATION], "input_shape": g.input_shape, "weight_bits": 4}
        try:
            plain = nmc.compile(g.model, allow_accuracy_loss=True, **options)
        except NmcError as e:
            print(seed - 1, "refused without fine-tuning:", str(e)[:120], flush=True)
            continue
        plain_acc = float((plain.run(xte).argmax(1) == yte).mean())
        t0 = time.perf_counter()
        try:
            tuned = nmc.compile(g.model, finetune=(xtr, ytr), **options)
            tuned_acc, refused = float((tuned.run(xte).argmax(1) == yte).mean()), ""
        except NmcError as e:
            tuned_acc, refused = float("nan"), str(e).splitlines()[0]
            if "chain of layers" in refused:
                not_chains.append((seed - 1, refused))
                print(seed - 1, "not a chain:", refused[:150], flush=True)
                continue
        rows.append({"seed": seed - 1, "family": g.family, "float": float_acc, "plain": plain_acc, "tuned": tuned_acc,
                     "refused": refused, "seconds": time.perf_counter() - t0, "arch": mg.describe(g.model)})  # fmt: skip
        print(rows[-1], flush=True)
    ok = [r for r in rows if not r["refused"]]
    kept = sum(r["tuned"] >= r["plain"] for r in ok)
    gap = [100 * (r["float"] - r["tuned"]) for r in ok]
    lines = [
        "## Fine-tuning generated CNNs at 4-bit weights (`benchmarks/generated.py --part finetune`)",
        "",
        f"Machine: {machine()}; {(time.perf_counter() - t_start) / 60:.0f} min. The first {count} chain CNNs of "
        f"tests/model_gen.py (ANN seeds; MLPs, weak draws and non-chains skipped), trained 8 epochs on sklearn digits, compiled for tianjic256 with `weight_bits=4` and "
        f"{CALIBRATION} calibration images: without fine-tuning (`allow_accuracy_loss`, the comparison) and with "
        "`--finetune` on the 1,257 training images (default epochs; the gate compares the chip with the fine-tuned model). "
        "Accuracy on the 540 test images, in %.",
        "",
        "| seed | family | float | chip, 4 bits | chip, fine-tuned | fine-tune s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        tuned = f"refused: {r['refused'][:120]}" if r["refused"] else f"{100 * r['tuned']:.1f}"
        lines.append(f"| {r['seed']} | {r['family']} | {100 * r['float']:.1f} | {100 * r['plain']:.1f} | {tuned} "
                     f"| {r['seconds']:.0f} |")  # fmt: skip
    lines += [
        "",
        f"Skipped: {len(weak)} drawn CNNs that did not learn digits in 8 epochs (float accuracy < {100 * MIN_FLOAT:.0f} %), "
        f"and {len(not_chains)} drawn CNNs with a residual add, a join or a max-pool tree, which `--finetune` "
        f"refuses in one line (it trains chains of layers; e.g. seed {not_chains[0][0] if not_chains else '-'}: "
        f"`{not_chains[0][1][:160] if not_chains else ''}`). "
        f"Refused by the gate after fine-tuning: {len(rows) - len(ok)} of {len(rows)}. Fine-tuned chip accuracy >= the "
        f"un-fine-tuned chip's on {kept} of {len(ok)} ({100 * kept / max(1, len(ok)):.0f} %); float minus fine-tuned chip: "
        f"median {np.median(gap):+.1f} points, worst {max(gap):+.1f}.",
    ]
    write_section("generated-finetune", "\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("ann", "snn", "rsnn", "finetune"), required=True)
    ap.add_argument(
        "--count", type=int, help="models (default: 300 ANNs, 100 SNNs, 60 recurrent or current-based SNNs, 20 fine-tuned CNNs)"
    )
    ap.add_argument("--verilog-every", type=int, default=25, help="every Nth ANN also through --target verilog + Icarus")
    ap.add_argument("--render", action="store_true", help="rewrite the section from the last run's rows (ROWS), no rerun")
    args = ap.parse_args()
    if args.render and args.part != "finetune":
        saved = json.loads(Path(ROWS.format(part=args.part)).read_text())
        write_corpus(saved["rows"], args.part, saved["seconds"], 0 if args.part != "ann" else args.verilog_every)
        return
    torch.set_num_threads(1)
    if args.part == "finetune":
        run_finetune(args.count or 20)
    else:
        spiking = args.part != "ann"
        default = {"ann": 300, "snn": 100, "rsnn": 60}[args.part]
        run_corpus(args.part, args.count or default, 0 if spiking else args.verilog_every)


if __name__ == "__main__":
    main()
