"""One nmc-search candidate: compiled untrained against the budgets, then trained, compiled and scored.

Runs inside a Ray worker (or in-process): it takes plain data and returns a plain
dict, so nothing but the candidate's parameters crosses the process boundary.
Cores, area, synapse memory and latency depend only on the structure, so the
untrained compile decides them exactly; energy depends on activity, so the
untrained figure screens and the trained network's figure is the one scored
(and checked again).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nmc
from nmc.errors import NmcError
from nmc.nas.space import build

# what each objective / budget reads from report.json, and its direction
METRICS = {
    "cores": "minimize",
    "energy_nj": "minimize",
    "latency_ticks": "minimize",
    "area_mm2": "minimize",
    "memory_kb": "minimize",
}
OBJECTIVES = {"accuracy": "maximize", **METRICS}


def parse_budget(text: str | dict | None) -> dict[str, float]:
    """`cores=8,energy_nj=500` (or a dict) as {metric: limit}."""
    if text is None or text == "":
        return {}
    items = text.items() if isinstance(text, dict) else (part.partition("=")[::2] for part in text.split(","))
    budget: dict[str, float] = {}
    for key, value in items:
        key = str(key).strip()
        if key not in METRICS:
            raise NmcError(f"--budget: unknown limit '{key}' (limits: {', '.join(METRICS)})")
        try:
            limit = float(value)
        except (TypeError, ValueError):
            raise NmcError(f"--budget: {key}={value!r} is not a number") from None
        if not limit > 0 or limit != limit or limit == float("inf"):
            raise NmcError(f"--budget: {key} must be a positive number, got {value}")
        budget[key] = limit
    return budget


def hardware_metrics(report: dict) -> dict[str, float]:
    run = report.get("chip_run", {})
    return {
        "cores": int(report["mapping"]["cores_used"]),
        "energy_nj": round(float(run.get("energy_per_inference_uj", float("nan"))) * 1e3, 3),
        "latency_ticks": int(run.get("inference_ticks", report["ticks"])),
        "area_mm2": round(float(run.get("area_mm2", float("nan"))), 6),
        "memory_kb": round(report["neurobench"]["chip_memory_bits"] / 8 / 1024, 3),
    }


def violations(metrics: dict[str, float], budget: dict[str, float]) -> list[str]:
    return [f"{k} {metrics[k]:g} > {limit:g}" for k, limit in budget.items() if metrics[k] > limit]


def constraint_values(metrics: dict[str, float], budget: dict[str, float]) -> dict[str, float]:
    """Optuna's constraint convention: <= 0 satisfied; the relative excess otherwise."""
    return {k: metrics[k] / limit - 1.0 for k, limit in budget.items()}


@dataclass
class Job:
    """What a worker needs for one candidate (all picklable)."""

    number: int
    params: dict[str, Any]
    space: Any  # nmc.nas.space.Space
    chip: str
    budget: dict[str, float]
    seed: int
    classes: int
    prune_curves: dict[int, list[float]] = field(default_factory=dict)  # epoch -> finished trials' accuracies


def compile_options(job: Job, calibration: np.ndarray) -> dict[str, Any]:
    """The nmc-compile options of a candidate (the same for the screen, the scored compile and a recompile)."""
    p = job.params
    return {"chip": job.chip, "timesteps": p["ticks"], "weight_bits": p["weight_bits"], "calibration": calibration}


def run_trial(job: Job, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Screen, train and score one candidate; never raises for a bad candidate (it is recorded)."""
    import torch

    torch.set_num_threads(1)  # one trial per core; also makes training reproducible across machines' thread counts
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    options = compile_options(job, data["calibration"])
    model = build(job.params, job.space, job.classes, job.seed)
    try:
        screen = nmc.compile(model, **options, allow_accuracy_loss=True)
    except NmcError as e:  # e.g. more neurons than the mesh has cores for: rejected, with the reason
        reason = str(e).splitlines()[0]
        return {"state": "infeasible", "violated": [reason], "metrics": {}, "seconds": _since(clock, seconds, "screen")}
    metrics = hardware_metrics(screen.report)
    _since(clock, seconds, "screen")
    broken = violations(metrics, job.budget)
    if broken:
        return {"state": "infeasible", "violated": broken, "metrics": metrics, "seconds": seconds}
    model, curve, pruned = _train(model, job, data)
    _since(clock, seconds, "train")
    if pruned:
        return {"state": "pruned", "curve": curve, "metrics": metrics, "seconds": seconds}
    ft = job.space.train["finetune_epochs"]
    tuned = {"finetune": (data["x_train"], data["y_train"]), "finetune_epochs": ft, "seed": job.seed} if ft else {}
    try:
        compiled = nmc.compile(model, **options, **tuned, allow_accuracy_loss=True)
    except NmcError as e:
        return {"state": "infeasible", "violated": [str(e).splitlines()[0]], "metrics": metrics, "seconds": seconds}
    x_val, y_val = data["x_val"], data["y_val"]
    scores = np.concatenate([compiled.run(x_val[i : i + 512]) for i in range(0, len(x_val), 512)])
    metrics = hardware_metrics(compiled.report)
    _since(clock, seconds, "compile")
    written = torch.load(io.BytesIO(compiled.files[f"{compiled.name}.finetuned.pt"]), weights_only=False) if ft else model
    buf = io.BytesIO()
    torch.save(written, buf)
    return {
        "state": "complete",
        "accuracy": round(float(np.mean(scores.argmax(1) == y_val)), 6),
        "float_accuracy": curve[-1],
        "violated": violations(metrics, job.budget),  # energy may exceed the budget once trained
        "metrics": metrics,
        "curve": curve,
        "model": buf.getvalue(),
        "seconds": seconds,
    }


def _since(clock: float, seconds: dict[str, float], step: str) -> dict[str, float]:
    seconds[step] = round(time.perf_counter() - clock - sum(seconds.values()), 3)
    return seconds


def _train(model: Any, job: Job, data: dict[str, np.ndarray]) -> tuple[Any, list[float], bool]:
    """Adam on cross-entropy; an SNN through its ticks (nmc.nn.run, surrogate gradients). Returns the model, the
    float validation accuracy after each epoch, and whether the trial was pruned."""
    import torch

    from nmc import nn as nmc_nn

    t = job.space.train
    spiking = job.params["neuron"] != "if"
    ticks = job.params["ticks"]

    def forward(x: torch.Tensor) -> torch.Tensor:
        return nmc_nn.run(model, x, ticks).sum(0) if spiking else model(x)

    xt, yt = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    xv = torch.from_numpy(data["x_val"])
    g = torch.Generator().manual_seed(job.seed)
    opt = torch.optim.Adam(model.parameters(), lr=t["lr"])
    curve: list[float] = []
    for epoch in range(1, t["epochs"] + 1):
        model.train()
        for idx in torch.randperm(len(xt), generator=g).split(t["batch_size"]):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(forward(xt[idx]), yt[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            curve.append(round(float((forward(xv).argmax(1).numpy() == data["y_val"]).mean()), 6))
        if hopeless(curve[-1], job.prune_curves.get(epoch, []), epoch, t["epochs"]):
            return model, curve, True
    return model, curve, False


def hopeless(accuracy: float, others: list[float], epoch: int, epochs: int, percentile: float = 10.0) -> bool:
    """Optuna's PercentilePruner rule on the accuracy objective (its pruners refuse multi-objective studies):
    after a third of the epochs, prune a trial below the 10th percentile of the trained trials' accuracy
    at the same epoch, once there are at least 5 of them — a trial worse than nearly all others so far."""
    if epoch < max(1, epochs // 3) or epoch >= epochs or len(others) < 5:
        return False
    return accuracy < float(np.percentile(others, percentile))
