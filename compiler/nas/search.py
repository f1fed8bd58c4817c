"""`nmc.search` / `nmc-search`: hardware-aware architecture search (NeuroNAS) on Optuna and Ray.

Optuna proposes candidates (NSGA-II for several objectives, TPE for one; the
budgets are its constraints) and keeps the study in an RDB storage — a SQLite
file in OUTDIR by default, any SQLAlchemy URL for many machines. Trials run in
parallel in local worker processes (no network port), or on a Ray
cluster joined with token authentication (`--ray ADDRESS`; nmc.nas.runner).
Candidates are asked in batches of the parallelism and the next batch
is asked only after the last is told, so a seed fixes the whole search; each
trial is told the moment it finishes, so killing the run loses no finished
trial, and rerunning the same command continues the study (docs/search.md).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips import load_chip
from nmc.driver import check_output_dir
from nmc.errors import NmcError
from nmc.nas.output import SearchResult, write_outputs
from nmc.nas.runner import Runner, redacted
from nmc.nas.space import Space, describe, load_space, suggest
from nmc.nas.trial import OBJECTIVES, Job, constraint_values, parse_budget
from nmc.training.finetuning import check_data, load_finetune_data

STUDY = "nmc-search"


def search(
    space: Any,
    data: Any,
    chip: str = "tianjic256",
    *,
    budget: str | dict | None = None,
    trials: int = 20,
    objectives: Sequence[str] = ("accuracy", "energy_nj"),
    storage: str | None = None,
    ray_address: str | None = None,
    parallel: int | None = None,
    seed: int = 0,
    outdir: str | Path = "nmc_search",
    progress: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search `space` (SPACE.toml path or parsed Space) on labelled `data` (.npz path or (x, y)) for `chip`."""
    import optuna

    say = progress or (lambda _msg: None)
    space = space if isinstance(space, Space) else load_space(space)
    x, y = load_finetune_data(data, "--data") if isinstance(data, str | Path) else check_data(*data, where="--data")
    if tuple(x.shape[1:]) != space.input_shape:
        raise NmcError(f"--data: samples have shape {list(x.shape[1:])}, the space's [input] shape is {list(space.input_shape)}")
    objectives = _objectives(objectives)
    limits = parse_budget(budget)
    if trials < 1:
        raise NmcError(f"--trials must be at least 1, got {trials}")

    load_chip(chip)  # a wrong chip is one line now, not a failure in every worker

    outdir = check_output_dir(Path(outdir))
    outdir.mkdir(parents=True, exist_ok=True)
    split = _split(x, y, space.train["validation"], seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    own_storage = storage is None  # a SQLite file only this folder's search uses
    storage = storage or f"sqlite:///{(outdir / 'study.db').resolve()}"
    fingerprint = _fingerprint(space, x, y, chip, limits, objectives, seed)
    study = _study(storage, objectives, limits, seed, trials, fingerprint)
    np.save(outdir / "calibration.npy", split["calibration"])
    if own_storage:  # (a shared storage's RUNNING trials may be other machines' work in progress)
        _fail_stale(study)
    done = [t for t in study.trials if t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL]
    runner = Runner(ray_address, parallel, split)
    say(f"study {redacted(storage)}: {len(done)} of {trials} trials finished; {runner.width} at once on {runner.where}")
    started = time.perf_counter()
    classes = int(y.max()) + 1
    try:
        while len(done) < trials:
            batch = []
            curves = _curves(study)
            for _ in range(min(runner.width, trials - len(done))):
                trial = study.ask()
                params = suggest(trial, space)
                job = Job(trial.number, params, space, chip, limits, seed * 100_003 + trial.number, classes, curves)
                batch.append((trial, job))
            for trial, job, result in runner.run(batch):
                _record(study, trial, job, result, objectives, limits)
                done.append(trial)
                say(_line(len(done), trials, job, result))
    finally:
        runner.close()
    return write_outputs(study, outdir, objectives, limits, chip, time.perf_counter() - started, say)


def _objectives(names: Sequence[str] | str) -> list[str]:
    names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    wrong = [n for n in names if n not in OBJECTIVES]
    if wrong or not names or len(set(names)) != len(names):
        raise NmcError(f"--objectives: {','.join(names)} — choose distinct ones from {', '.join(OBJECTIVES)}")
    return names


def _split(x: np.ndarray, y: np.ndarray, validation: float, seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(validation * len(x)))
    val, train = order[:n_val], order[n_val:]
    return {
        "x_train": x[train],
        "y_train": y[train],
        "x_val": x[val],
        "y_val": y[val],
        "calibration": x[train][:300],
    }


def _fingerprint(space, x, y, chip, limits, objectives, seed) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([space.search, space.mlp, space.cnn, space.train, list(space.input_shape)], sort_keys=True).encode())
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    h.update(json.dumps([chip, limits, objectives, seed], sort_keys=True).encode())
    return h.hexdigest()[:16]


def _study(storage: str, objectives: list[str], limits: dict, seed: int, trials: int, fingerprint: str):
    import optuna

    directions = [OBJECTIVES[o] for o in objectives]
    if len(objectives) > 1:
        population = max(4, min(50, trials // 3))
        sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, trials // 4))
    try:
        study = optuna.create_study(
            storage=storage, study_name=STUDY, directions=directions, sampler=sampler, load_if_exists=True
        )
    except Exception as e:  # sqlalchemy / driver errors: one line
        raise NmcError(f"--storage {redacted(storage)}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    known = study.user_attrs.get("fingerprint")
    if known is None:
        study.set_user_attr("fingerprint", fingerprint)
    elif known != fingerprint:
        raise NmcError(
            f"--storage {redacted(storage)} holds a study of a different search (space, data, chip, budget, objectives or seed "
            "changed); give another -o (or --storage) to start a new one"
        )
    return study


def _fail_stale(study) -> None:
    """Trials a killed run left RUNNING were not finished: mark them failed (their candidates are asked again)."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)


def _curves(study) -> dict[int, list[float]]:
    """Per epoch, the validation accuracy of every trained trial (the pruning reference)."""
    curves: dict[int, list[float]] = {}
    for t in study.trials:
        for epoch, acc in enumerate(t.user_attrs.get("curve", []), 1):
            curves.setdefault(epoch, []).append(acc)
    return curves


def _record(study, trial, job: Job, result: dict, objectives: list[str], limits: dict) -> None:
    import optuna

    metrics = result.get("metrics", {})
    trial.set_user_attr("candidate", job.params)
    trial.set_user_attr("state", result["state"])
    trial.set_user_attr("violated", result.get("violated", []))
    trial.set_user_attr("metrics", metrics)
    trial.set_user_attr("seconds", result.get("seconds", {}))
    if "curve" in result:
        trial.set_user_attr("curve", result["curve"])
    if result["state"] == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    if result["state"] == "error":  # a bug, not a bad candidate: recorded and shown, the search goes on
        trial.set_user_attr("violated", [result["message"]])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    if result["state"] == "complete":
        trial.set_user_attr("accuracy", result["accuracy"])
        trial.set_user_attr("float_accuracy", result["float_accuracy"])
        trial.set_user_attr("model", result["model"].hex())
        values = [result["accuracy"] if o == "accuracy" else metrics[o] for o in objectives]
    else:  # rejected before training: the worst accuracy, and constraints that say by how much it missed
        values = [0.0 if o == "accuracy" else float(metrics.get(o, 1e12)) for o in objectives]
    # the budgets are the samplers' constraints (<= 0: met); a candidate that did not compile misses "compiles"
    if metrics:
        excess = {"compiles": 0.0, **constraint_values(metrics, limits)}
    else:
        excess = {"compiles": 1.0, **dict.fromkeys(limits, 1.0)}
    for key, value in excess.items():
        trial.set_constraint(key, value)
    study.tell(trial, values)


def _line(count: int, total: int, job: Job, result: dict) -> str:

    what = describe(job.params)
    if result["state"] == "complete":
        m = result["metrics"]
        tail = "" if not result["violated"] else f", over budget: {'; '.join(result['violated'])}"
        return (
            f"trial {count}/{total} #{job.number} {what}: accuracy {result['accuracy']:.2%}, {m['energy_nj']:g} nJ, "
            f"{m['cores']} cores{tail}"
        )
    if result["state"] == "pruned":
        return f"trial {count}/{total} #{job.number} {what}: pruned after {len(result['curve'])} epochs"
    if result["state"] == "error":
        return f"trial {count}/{total} #{job.number} {what}: failed ({result['message']})"
    return f"trial {count}/{total} #{job.number} {what}: rejected before training ({'; '.join(result['violated'])})"
