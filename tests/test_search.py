"""nmc-search: candidates screened by the compiler before training, budgets honoured by what nmc-compile
reports again, seeded, resumable after kill -9, trials in parallel in local worker processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmc.errors import NmcError
from nmc.nas.space import parse_space
from nmc.nas.trial import hopeless, parse_budget

from .conftest import EXAMPLES, run_tool

SPACE = EXAMPLES / "search" / "digits.toml"
DATA = EXAMPLES / "search" / "digits.npz"
SMALL = """
[input]
shape = [64]
image = [1, 8, 8]
[search]
families = ["mlp", "cnn"]
neuron = ["if", "lif"]
ticks = [8]
weight_bits = [4, 8]
[mlp]
depth = { low = 1, high = 2 }
width = [16, 32]
[cnn]
depth = { low = 1, high = 2 }
channels = [8, 32]
kernel = [3]
pool = ["avg"]
fc_width = [0]
[train]
epochs = 3
finetune_epochs = 1
"""


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def run_search(tmp_path: Path, name: str, trials: int, space: Path) -> tuple:
    from nmc.nas.search import search

    out = tmp_path / name
    result = search(space, DATA, "tianjic256", budget="cores=3", trials=trials, outdir=out, parallel=1, seed=1)
    return result, out


@pytest.fixture(scope="module")
def small_space(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def searched(tmp_path_factory, small_space):
    return run_search(tmp_path_factory.mktemp("search"), "a", 5, small_space)


def test_candidates_over_budget_are_rejected_before_training_and_recorded(searched):
    result, out = searched
    rows = read_csv(out / "trials.csv")
    assert len(rows) == 5
    rejected = [r for r in rows if r["state"] == "rejected before training"]
    trained = [r for r in rows if r["state"] == "trained"]
    assert rejected, "the budget (3 cores) should rule out the wide CNNs"
    for r in rejected:
        assert r["accuracy"] == ""  # never trained
        assert int(r["cores"]) > 3
        assert f"cores {r['cores']} > 3" in r["violated"]
    for r in trained:
        assert int(r["cores"]) <= 3
        assert 0.5 < float(r["accuracy"]) <= 1.0
        assert (out / r["model"]).is_file()
    assert result.summary["rejected_before_training"] == len(rejected)
    assert result.summary["rejected_fraction"] == pytest.approx(len(rejected) / 5, abs=1e-4)
    assert (out / "best.pt").is_file()
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_every_pareto_point_recompiles_to_the_numbers_in_trials_csv(searched, tmp_path):
    """The must-show: nmc-compile on each Pareto model, with the options summary.json names, reports the same
    cores, energy, latency, area and memory as trials.csv — all within the budget."""
    _, out = searched
    pareto = read_csv(out / "pareto.csv")
    assert pareto
    for row in pareto:
        params = json.loads(row["params"])
        dest = tmp_path / f"t{row['trial']}"
        run = run_tool(
            "nmc-compile", str(out / row["model"]), "--timesteps", str(params["ticks"]), "--weight-bits",
            str(params["weight_bits"]), "--calibration", str(out / "calibration.npy"), "-o", str(dest), "-q",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        report = json.loads((dest / "report.json").read_text())
        from nmc.nas.trial import hardware_metrics

        again = hardware_metrics(report)
        for key, value in again.items():
            assert float(row[key]) == pytest.approx(value), (row["trial"], key)
        assert again["cores"] <= 3


def test_the_seed_fixes_the_search_and_a_rerun_continues_it(searched, tmp_path, small_space):
    _, out = searched
    _, out2 = run_search(tmp_path, "b", 5, small_space)
    assert (out2 / "trials.csv").read_bytes() == (out / "trials.csv").read_bytes()
    # resume: 3 trials, then the same command asking for 5 continues the study (the first 3 rows kept)
    _, out3 = run_search(tmp_path, "c", 3, small_space)
    rows3 = read_csv(out3 / "trials.csv")
    run_search(tmp_path, "c", 5, small_space)
    rows5 = read_csv(out3 / "trials.csv")
    assert len(rows3) == 3
    assert len(rows5) == 5
    assert rows5[:3] == rows3


def test_a_different_search_in_the_same_folder_is_refused(searched, tmp_path):
    from nmc.nas.search import search

    _, out = searched
    with pytest.raises(NmcError, match="holds a study of a different search"):
        search(SPACE, DATA, "tianjic256", budget="cores=8", trials=5, outdir=out, parallel=1, seed=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[input]\nshape = [64]\n[serch]\n", "[serch] is not a section of a search space"),
        ("[input]\nshape = [64]\n[mlp]\nwidht = [3]\n", "[mlp.widht] is unknown"),
        ("[input]\nshape = [64]\n[mlp]\ndepth = { low = 3, high = 1 }\n", "[mlp.depth] must be { low = a, high = b }"),
        ('[input]\nshape = [64]\n[search]\nfamilies = ["cnn"]\n[cnn]\n', "[input.image] is required for CNN"),
        (
            '[input]\nshape = [64]\n[search]\nneuron = ["izhikevich"]\n[mlp]\n',
            "choose from ['if', 'lif', 'cuba', 'rlif', 'rcuba']",
        ),
        ("[input]\nshape = [64]\nimage = [1, 8, 9]\n", "[input.image] [1, 8, 9] holds 72 values"),
        ("[train]\nepochs = 2\n", "[input.shape] is required"),
        ("[input]\nshape = [64]\n[mlp]\n[train]\nvalidation = 1.5\n", "[train.validation] is the held-out fraction"),
    ],
)
def test_bad_space_files_are_one_line(text, message):
    import tomllib

    with pytest.raises(NmcError) as e:
        parse_space(tomllib.loads(text), "s.toml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_budgets_are_checked():
    assert parse_budget("cores=4, energy_nj=250.5") == {"cores": 4.0, "energy_nj": 250.5}
    with pytest.raises(NmcError, match="unknown limit 'power'"):
        parse_budget("power=3")
    with pytest.raises(NmcError, match="energy_nj='lots' is not a number"):
        parse_budget("energy_nj=lots")
    with pytest.raises(NmcError, match="cores must be a positive number"):
        parse_budget("cores=0")


def test_pruning_follows_the_percentile_rule():
    others = [0.9, 0.92, 0.94, 0.96, 0.98]  # 10th percentile 0.908
    assert hopeless(0.5, others, epoch=7, epochs=20)
    assert hopeless(0.905, others, epoch=7, epochs=20)
    assert not hopeless(0.91, others, epoch=7, epochs=20)
    assert not hopeless(0.5, others, epoch=5, epochs=20)  # before a third of the epochs (6 of 20)
    assert not hopeless(0.5, others[:4], epoch=7, epochs=20)  # too few trained trials to compare with
    assert not hopeless(0.5, others, epoch=20, epochs=20)  # the last epoch: it is scored, not pruned


def test_cli_errors_are_one_line(tmp_path):
    run = run_tool("nmc-search", "--space", str(SPACE), "--data", str(DATA), "--budget", "watts=3", "-o", str(tmp_path / "o"))
    assert run.returncode == 1
    limits = "cores, energy_nj, latency_ticks, area_mm2, memory_kb"
    assert run.stderr.strip() == f"nmc-search: error: --budget: unknown limit 'watts' (limits: {limits})"
    run = run_tool("nmc-search", "--space", str(tmp_path / "none.toml"), "--data", str(DATA), "-o", str(tmp_path / "o"))
    assert run.stderr.strip() == f"nmc-search: error: --space {tmp_path / 'none.toml'}: no such file"


def test_trials_run_in_parallel_and_a_killed_search_resumes_without_losing_trials(tmp_path, small_space):
    """The subprocess smoke test of nmc-search: 2 trials at once in local worker processes; kill -9 after the
    first trials finish; the same command then completes the study with those trials unchanged."""
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "nmc.tools.nmc_search", "--space", str(small_space), "--data", str(DATA),
           "--budget", "cores=3", "--trials", "4", "--parallel", "2", "--seed", "1", "-o", str(out)]  # fmt: skip
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True, env=env)
    finished: list[str] = []
    deadline = time.time() + 240
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("study "):
            assert "2 at once on local worker processes" in line
        if line.startswith("trial "):
            finished.append(line.split()[2])  # '#N'
        if len(finished) >= 2 or time.time() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(finished) >= 2, "no trials finished before the deadline"
    import optuna

    study = optuna.load_study(study_name="nmc-search", storage=f"sqlite:///{out / 'study.db'}")
    kept = {t.number: t.values for t in study.trials if t.state.is_finished()}
    assert {int(n[1:]) for n in finished} <= set(kept)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert rerun.returncode == 0, rerun.stderr
    rows = read_csv(out / "trials.csv")
    assert len(rows) == 4
    study = optuna.load_study(study_name="nmc-search", storage=f"sqlite:///{out / 'study.db'}")
    for t in study.trials:
        if t.number in kept:
            assert t.values == kept[t.number]
    assert "best:" in rerun.stdout


def test_the_api_functions_are_not_shadowed_by_their_modules():
    import nmc
    import nmc.nas.search
    import nmc.training.finetuning

    assert callable(nmc.search)
    assert callable(nmc.finetune)
    assert nmc.search is nmc.nas.search.search


def test_a_crashing_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path, small_space, monkeypatch):
    import nmc.nas.runner
    import nmc.nas.search as search_module
    from nmc.nas.trial import run_trial

    def flaky(job, data):
        if job.number == 0:
            raise RuntimeError("worker lost\nout of memory in layer 3")
        return run_trial(job, data)

    monkeypatch.setattr(nmc.nas.runner, "run_trial", flaky)
    result = search_module.search(small_space, DATA, "tianjic256", trials=2, outdir=tmp_path / "f", parallel=1)
    rows = read_csv(tmp_path / "f" / "trials.csv")
    assert rows[0]["state"] == "failed"
    assert rows[1]["state"] != "failed"
    assert rows[0]["violated"] == "RuntimeError: out of memory in layer 3"
    assert result.summary["trials"] == 2


def test_the_pareto_plot_has_a_colour_scale_only_when_core_counts_differ(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from nmc.nas.output import _plot

    bars: list[int] = []
    original = Figure.colorbar
    monkeypatch.setattr(Figure, "colorbar", lambda self, *a, **k: bars.append(1) or original(self, *a, **k))

    def row(trial: int, cores: int, energy: float, acc: float) -> dict:
        return {"trial": trial, "state": "trained", "feasible": True, "cores": cores, "energy_nj": energy, "accuracy": acc}

    same = [row(0, 1, 5.0, 0.9), row(1, 1, 3.0, 0.8)]
    _plot(tmp_path / "one.png", same, same, {})
    assert bars == []  # one core count: said in the title, no continuous scale
    mixed = [row(0, 1, 5.0, 0.9), row(1, 4, 3.0, 0.8)]
    _plot(tmp_path / "two.png", mixed, mixed, {})
    assert bars == [1]
    assert (tmp_path / "one.png").read_bytes()[:4] == (tmp_path / "two.png").read_bytes()[:4] == b"\x89PNG"
