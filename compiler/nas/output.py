"""What `nmc-search` leaves in OUTDIR: trials.csv, pareto.csv, pareto.png, best.pt, models/, summary.json.

trials.csv and pareto.csv hold only what the seed fixes (parameters, states,
metrics, accuracies), so the same command writes the same files; wall times go
to summary.json and the printed summary.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmc.nas.space import describe
from nmc.nas.trial import METRICS, OBJECTIVES


@dataclass
class SearchResult:
    outdir: Path
    rows: list[dict]  # trials.csv
    pareto: list[dict]
    best: dict | None
    summary: dict


STATES = {"complete": "trained", "pruned": "pruned", "infeasible": "rejected before training", "error": "failed"}
COLUMNS = ["trial", "candidate", "state", "feasible", "accuracy", "float_accuracy", *METRICS, "violated", "model", "params"]


def rows_of(study) -> list[dict]:

    rows = []
    for t in sorted(study.trials, key=lambda t: t.number):
        if "state" not in t.user_attrs:  # failed or still running
            continue
        a = t.user_attrs
        m = a.get("metrics", {})
        complete = a["state"] == "complete"
        rows.append(
            {
                "trial": t.number,
                "candidate": describe(a["candidate"]),
                "state": STATES[a["state"]],
                "feasible": complete and not a["violated"],
                "accuracy": a.get("accuracy", ""),
                "float_accuracy": a.get("float_accuracy", ""),
                **{k: m.get(k, "") for k in METRICS},
                "violated": "; ".join(a["violated"]),
                "model": f"models/trial_{t.number:04d}.pt" if complete else "",
                "params": json.dumps(t.params, sort_keys=True),
                "_model_hex": a.get("model"),
                "_seconds": a.get("seconds", {}),
            }
        )
    return rows


def pareto_front(rows: list[dict], objectives: list[str]) -> list[dict]:
    """Feasible trained trials that no other feasible trial beats on every objective."""
    feasible = [r for r in rows if r["feasible"]]

    def key(r: dict) -> list[float]:  # all as "smaller is better"
        return [-r[o] if OBJECTIVES[o] == "maximize" else r[o] for o in objectives]

    front = []
    for r in feasible:
        k = key(r)
        dominated = any(all(a <= b for a, b in zip(key(o), k, strict=True)) and key(o) != k for o in feasible if o is not r)
        if not dominated:
            front.append(r)
    return sorted(front, key=key)


def write_outputs(study, outdir: Path, objectives: list[str], limits: dict, chip: str, wall: float, say: Callable) -> Any:

    rows = rows_of(study)
    (outdir / "models").mkdir(exist_ok=True)
    for r in rows:
        if r["_model_hex"]:
            path = outdir / r["model"]
            data = bytes.fromhex(r["_model_hex"])
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
    front = pareto_front(rows, objectives)
    _csv(outdir / "trials.csv", rows)
    _csv(outdir / "pareto.csv", front)
    best = max(front, key=lambda r: (r["accuracy"], -r["energy_nj"]), default=None)
    if best is not None:
        (outdir / "best.pt").write_bytes(bytes.fromhex(best["_model_hex"]))
    _plot(outdir / "pareto.png", rows, front, limits)
    summary = _summary(rows, front, best, limits, chip, wall, outdir)
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))

    return SearchResult(outdir, rows, front, best, summary)


def recompile_command(row: dict, chip: str, outdir: Path) -> str:
    params = json.loads(row["params"])
    return (
        f"nmc-compile {outdir / row['model']} --chip {chip} --timesteps {params['ticks']} "
        f"--weight-bits {params['weight_bits']} --calibration {outdir / 'calibration.npy'}"
    )


def _csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _summary(rows, front, best, limits, chip, wall, outdir) -> dict:
    trained = [r for r in rows if r["state"] == "trained"]
    rejected = [r for r in rows if r["state"] == "rejected before training"]
    spent = {step: round(sum(r["_seconds"].get(step, 0.0) for r in rows), 2) for step in ("screen", "train", "compile")}
    per_trained = (
        sum(r["_seconds"].get("train", 0) + r["_seconds"].get("compile", 0) for r in trained) / len(trained) if trained else 0.0
    )
    # what training the rejected candidates too would have cost (the mean of the trained ones), minus the screening
    saved = len(rejected) * per_trained
    work = sum(spent.values())
    return {
        "trials": len(rows),
        "trained": len(trained),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "rejected_before_training": len(rejected),
        "rejected_fraction": round(len(rejected) / len(rows), 4) if rows else 0.0,
        "feasible": sum(r["feasible"] for r in rows),
        "pareto": [r["trial"] for r in front],
        "best": None
        if best is None
        else {
            "trial": best["trial"],
            "candidate": best["candidate"],
            "accuracy": best["accuracy"],
            **{k: best[k] for k in METRICS},
            "compile": recompile_command(best, chip, outdir).replace(str(outdir / best["model"]), str(outdir / "best.pt")),
        },
        "budget": limits,
        "seconds": {"wall": round(wall, 2), "worker": spent},
        "time_saved": {
            "seconds_per_trained_candidate": round(per_trained, 2),
            "estimated_seconds_saved": round(saved, 2),
            "speedup_vs_training_every_candidate": round((work + saved) / work, 3) if work > 0 else 1.0,
        },
    }


def _plot(path: Path, rows: list[dict], front: list[dict], limits: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [r for r in rows if r["state"] == "trained"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    if trained:
        cores = sorted({int(r["cores"]) for r in trained})
        style = {"cmap": "viridis", "c": [r["cores"] for r in trained]} if len(cores) > 1 else {"color": "tab:blue"}
        sc = ax.scatter(
            [r["energy_nj"] for r in trained],
            [100 * r["accuracy"] for r in trained],
            marker="o",
            edgecolors=["k" if r["feasible"] else "r" for r in trained],
            **style,
        )
        if len(cores) > 1:  # a colour scale only where the core counts differ; one count is said in the title
            bar = fig.colorbar(sc, ax=ax, label="cores")
            bar.set_ticks(cores if len(cores) <= 8 else bar.get_ticks())
    if front:
        pts = sorted((r["energy_nj"], 100 * r["accuracy"], r["trial"]) for r in front)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "k--", lw=1, label="Pareto front (feasible)")
        for x, y, trial in pts:  # the front's points by trial number (trials.csv, models/)
            ax.annotate(f"#{trial}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if "energy_nj" in limits:
        ax.axvline(limits["energy_nj"], color="r", lw=1, label=f"energy budget {limits['energy_nj']:g} nJ")
    others = ", ".join(f"{k} <= {v:g}" for k, v in limits.items() if k != "energy_nj")
    one = sorted({int(r["cores"]) for r in trained})
    cores_note = f", all on {one[0]} core{'s' if one[0] != 1 else ''}" if len(one) == 1 else ""
    ax.set_title("nmc-search: trained candidates" + cores_note + (f" (budget {others})" if others else ""), fontsize=9)
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel("validation accuracy on the chip (%)")
    if front or "energy_nj" in limits:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
