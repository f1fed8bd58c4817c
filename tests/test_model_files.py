"""Model files: what loads, what is refused, and how `nmc-compile` reports it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nmc.errors import NmcError
from nmc.frontends.torch_import import load_model

from .conftest import EXAMPLES, ToolRun, run_tool


class Payload:
    """Unpickling this runs a shell command: the classic malicious pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_the_code_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": nn.Linear(2, 2), "x": Payload(marker)}, evil)
    with pytest.raises(NmcError, match=r"evil.pt: refused to load '(posix|os)\.system'"):
        load_model(evil)
    assert not marker.exists()
    # the payload is live: the unsafe loader runs it
    torch.load(evil, weights_only=False)
    assert marker.exists()


class Custom(nn.Module):
    def forward(self, x):
        return x


def test_unknown_module_class_is_refused(tmp_path):
    path = tmp_path / "custom.pt"
    torch.save(nn.Sequential(nn.Linear(2, 2), Custom()), path)
    with pytest.raises(NmcError, match=r"refused to load '.*Custom': unpickling a custom class runs its code.*torch\.export"):
        load_model(path)


def run_cli(*args: str, cwd: Path | None = None) -> ToolRun:
    return run_tool("nmc-compile", *args, cwd=cwd)


def assert_one_line_error(proc: ToolRun, pattern: str) -> None:
    import re

    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_compile_writes_snn_ir_that_nmc_opt_reads(tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        str(EXAMPLES / "digits_mlp.pt"),
        "--target",
        "mlir",
        "--calibration",
        str(EXAMPLES / "digits_calib.npy"),
        "--timesteps",
        "32",
        "--level",
        "snn",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    ir = out / "digits_mlp.snn.mlir"
    text = ir.read_text()
    assert "snn.network @digits_mlp ticks = 32" in text
    assert text.count("snn.if ") == 1
    opt = run_tool("nmc-opt", str(ir))
    assert opt.returncode == 0
    assert "snn.dense" in opt.stdout
    assert '"neurons": 128' in (out / "report.json").read_text()


def test_compile_is_deterministic(tmp_path):
    args = [str(EXAMPLES / "digits_cnn.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy")]
    assert run_cli(*args, "-o", str(tmp_path / "a")).returncode == 0
    assert run_cli(*args, "-o", str(tmp_path / "b")).returncode == 0
    for name in ("digits_cnn.nmc", "report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _zip_of_version(path, version: int) -> None:
    """A torch zip whose central directory asks for a zip version Python's zipfile refuses (9.9)."""
    torch.save(nn.Sequential(nn.Linear(4, 2)), path)
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    data[at + 6 : at + 8] = version.to_bytes(2, "little")  # "version needed to extract"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make", "args", "pattern"),
    [
        (lambda p: torch.save(nn.Linear(3, 2).state_dict(), p), [], r"holds a state_dict .* save the whole model"),
        (
            lambda p: torch.save(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), p),
            [],
            r"cannot infer the input shape .* Conv2d: give --input-shape",
        ),
        (
            lambda p: torch.save(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Sequential(nn.Tanh())), p),
            [],
            r"layer '2\.0' \(Tanh\): Tanh is negative for negative inputs, which spike rates cannot carry: use Hardtanh\(0, 1\)",
        ),
        (
            lambda p: torch.save(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, padding=1)), p),
            ["--input-shape", "1,6,6"],
            r"layer '1' \(MaxPool2d\): padding \[1, 1\] pads with -inf, which equals zero padding only after a ReLU",
        ),
        (lambda p: p.write_bytes(b"not a model at all"), [], r"is text, not a model: nmc-compile takes a torch model"),
        (lambda p: p.write_bytes(bytes(range(256)) * 4), [], r"is binary data of no format nmc reads, not a model"),
        (lambda p: np.save(p.open("wb"), np.zeros(3)), [], r"is a NumPy array \(\.npy\), not a model"),
        (lambda p: p.mkdir(), [], r"is a folder, not a model"),
        (
            lambda p: torch.save(nn.Sequential(nn.Linear(4, 2)), p),
            ["--timesteps", "0"],
            r"argument --timesteps: expected a positive integer, got '0'",
        ),
        (  # a negative seed reached numpy's generator ("expected non-negative integer"), found by the binary fuzzer
            lambda p: torch.save(nn.Sequential(nn.Linear(4, 2)), p),
            ["--seed", "-1"],
            r"argument --seed: expected an integer from 0 to 2\^63 - 1, got '-1'",
        ),
    ],
)
def test_bad_models_get_one_clear_line_and_no_output(tmp_path, make, args, pattern):
    model = tmp_path / "model.pt"
    make(model)
    out = tmp_path / "out"
    proc = run_cli(str(model), "-o", str(out), *args)
    assert_one_line_error(proc, r"^nmc-compile: error: (\S*model.pt: )?" + pattern)
    assert not out.exists() or not any(out.iterdir())


def test_calibration_of_the_wrong_shape_is_named(tmp_path):
    import numpy as np

    calib = tmp_path / "c.npy"
    np.save(calib, np.zeros((4, 10), np.float32))
    proc = run_cli(str(EXAMPLES / "digits_cnn.pt"), "--calibration", str(calib), "-o", str(tmp_path / "o"))
    assert_one_line_error(proc, r"digits_cnn.pt: layer '0' \(Conv2d\) expects an input of shape \[1, H, W\], gets \[10\]")


def test_missing_model_file(tmp_path):
    assert_one_line_error(run_cli(str(tmp_path / "nope.pt")), r"nope.pt: no such file")


def test_no_check_skips_the_measurements_and_says_so(tmp_path):
    import json

    args = [str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy"), "--timesteps", "8"]
    checked = run_cli(*args, "-o", str(tmp_path / "a"))
    fast = run_cli(*args, "--no-check", "-o", str(tmp_path / "b"))
    assert checked.returncode == 0, checked.stderr
    assert fast.returncode == 0, fast.stderr
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert "quantization" in a
    assert "chip_run" in a
    assert "quantization" not in b
    assert "chip_run" not in b
    assert b["mapping"] == a["mapping"]  # the mapping still uses the profiled rates
    assert (tmp_path / "a" / "digits_mlp.nmc").read_bytes() == (tmp_path / "b" / "digits_mlp.nmc").read_bytes()
    assert "--no-check: quantization agreement and the simulated chip run were skipped" in fast.stderr
    assert "seconds: import" not in checked.stdout  # each step's seconds are in the progress lines (stderr) ...
    assert "] import: " in "\n".join(checked.progress)


def test_output_folder_problems_are_one_line_before_any_work(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    model = str(EXAMPLES / "digits_mlp.pt")
    assert_one_line_error(run_cli(model, "-o", str(a_file)), rf"-o {a_file}: is a file, not a folder")
    assert_one_line_error(run_cli(model, "-o", str(a_file / "sub")), rf"-o {a_file / 'sub'}: {a_file} is a file")


def test_ctrl_c_leaves_no_output_and_exits_130(tmp_path, monkeypatch):
    import nmc.pipeline

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nmc.pipeline, "run_passes", interrupted)
    out = tmp_path / "out"
    proc = run_cli(str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy"), "-o", str(out))
    assert proc.returncode == 130
    assert proc.stderr.strip() == "nmc-compile: error: interrupted"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def test_ctrl_c_at_15_random_points_of_a_compile_leaves_nothing(tmp_path, request):
    """SIGINT (KeyboardInterrupt in the main thread, as Python delivers it) at 15 random points of a real
    compile: points are counted in Python function calls, so they spread over the whole run on any machine."""
    import _thread
    import random
    import signal
    import sys

    # a fresh nmc-compile process has Python's handler (libraries imported by other tests may have replaced it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    args = [str(EXAMPLES / "digits_cnn.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy")]
    assert run_cli(*args, "-o", str(tmp_path / "whole")).returncode == 0  # imports warmed up
    calls = 0

    def count(_frame, event, _arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        assert run_cli(*args, "-o", str(tmp_path / "whole")).returncode == 0
    finally:
        sys.setprofile(None)
    total, rng = calls, random.Random(15)
    interrupted = 0
    for i in range(15):
        work = tmp_path / f"run{i}"
        work.mkdir()
        point, calls = rng.randrange(1, total), 0
        where: list[str] = []

        def interrupt_at_point(_frame, event, _arg, point=point, where=where):
            nonlocal calls
            calls += event == "call"
            if calls == point:
                where.append(f"{_frame.f_code.co_filename}:{_frame.f_lineno}:{_frame.f_code.co_name}")
                sys.setprofile(None)
                _thread.interrupt_main()  # what the SIGINT handler does: KeyboardInterrupt at the next bytecode

        sys.setprofile(interrupt_at_point)
        try:
            proc = run_cli(*args, "-o", str(work / "out"))
        finally:
            sys.setprofile(None)
        if proc.returncode == 0:
            # CPython drops a KeyboardInterrupt that lands where exceptions are ignored (a __del__, a GC
            # callback: "Exception ignored in ..."); the compile then finishes, and its output is whole
            assert (work / "out" / "report.json").exists(), f"point {point} ({where}): exit 0 without output"
            continue
        interrupted += 1
        assert proc.returncode == 130, f"point {point} of {total} ({where}): {proc.stderr}"
        assert proc.stderr.strip() == "nmc-compile: error: interrupted", proc.stderr
        assert list(work.iterdir()) == [], f"point {point} of {total} ({where}): left {list(work.iterdir())}"
    assert interrupted >= 12


def test_save_is_all_or_nothing_and_drops_files_of_an_earlier_run(tmp_path, monkeypatch):
    import nmc

    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's own file")
    calib = EXAMPLES / "digits_calib.npy"
    nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=calib, timesteps=8, dump_ir=True).save(out)
    assert (out / "digits_mlp.snn.mlir").exists()
    nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=calib, timesteps=8).save(out)
    assert not (out / "digits_mlp.snn.mlir").exists()  # written by the earlier run only: removed
    assert (out / "mine.txt").read_text() == "the user's own file"
    before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
    compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=calib, timesteps=4)
    import os

    real_replace = os.replace

    def fail_once(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail_once)
    with pytest.raises(OSError, match="No space left"):
        compiled.save(out)
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_compile_that_loses_the_decisions_is_refused_unless_allowed(tmp_path):
    model = str(EXAMPLES / "digits_cnn.pt")
    args = [model, "--calibration", str(EXAMPLES / "digits_calib.npy"), "--timesteps", "16", "--weight-bits", "2"]
    proc = run_cli(*args, "-o", str(tmp_path / "a"))
    assert_one_line_error(proc, r"the quantized network agrees with the unquantized one on \d+\.\d% of 100 calibration "
                                r"decisions .* below 90%: .* --allow-accuracy-loss")  # fmt: skip
    assert not (tmp_path / "a").exists()
    kept = run_cli(*args, "--allow-accuracy-loss", "-o", str(tmp_path / "b"))
    assert kept.returncode == 0, kept.stderr


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_layer(bad):
    from nmc.frontends.torch_import import layer_graph

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[2].weight[1, 0] = bad
    with pytest.raises(NmcError, match=r"layer '2' \(linear\): 'weight' holds NaN or infinite values"):
        layer_graph(model)


def test_damaged_module_state_is_one_clear_error(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model[0].weight = nn.Parameter(torch.zeros(3))  # a 1-D Linear weight
    path = tmp_path / "damaged.pt"
    torch.save(model, path)
    proc = run_cli(str(path), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, r"damaged: a layer's parameters do not fit its kind")
    assert not (tmp_path / "out").exists()


class _ConstructsHugeLinear:
    """Unpickles as nn.Linear(20000, 20000): a few hundred bytes that ask for 1.6 GB."""

    def __reduce__(self):
        return (nn.Linear, (20000, 20000))


class _AsksForHugeBytes:
    def __reduce__(self):
        return (bytearray, (8 << 30,))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.save(_ConstructsHugeLinear(), p),
        lambda p: torch.save({"model": _AsksForHugeBytes()}, p),
        # a zero-stride view: one stored float standing for a 10^5 x 10^5 weight
        lambda p: torch.save(nn.Sequential(nn.Flatten(), _zero_stride_linear()), p),
    ],
)
def test_declared_tensors_beyond_max_model_bytes_are_refused_in_bounded_memory(make, tmp_path):
    path = tmp_path / "bomb.pt"
    make(path)
    assert path.stat().st_size < 10_000
    proc = run_cli(str(path), "--input-shape", "100000", "--max-model-bytes", "1000000000", "-o", str(tmp_path / "o"))
    assert_one_line_error(proc, r"bomb\.pt: reading it needs more than --max-model-bytes=1000000000 bytes of memory")
    assert not (tmp_path / "o").exists()


def _zero_stride_linear() -> nn.Linear:
    layer = nn.Linear(1, 1)
    layer.weight = nn.Parameter(torch.zeros(1).expand(100_000, 100_000), requires_grad=False)
    layer.in_features = layer.out_features = 100_000
    layer.bias = None
    return layer


def test_ir_declaring_a_huge_tensor_is_refused_before_parsing(tmp_path):
    text = (EXAMPLES.parent / "tests/lit/dialects/snn/ops.mlir").read_text()
    (tmp_path / "big.mlir").write_text(text.replace("tensor<3x8xf32>", "tensor<100000x100000xf32>", 1))
    proc = run_tool("nmc-opt", str(tmp_path / "big.mlir"))
    assert_one_line_error(proc, r"big\.mlir:\d+: declares tensor<100000x100000xf32> \(10000000000 elements")


def test_a_network_that_cannot_fit_is_refused_before_any_expensive_step(monkeypatch):
    """The MNIST-size conv net used to run quantization checks and mapping for 37 s before 'needs 294 cores'."""
    import nmc
    import nmc.pipeline

    def never(*_args, **_kwargs):
        raise AssertionError("lowering started although the network cannot fit")

    monkeypatch.setattr(nmc.pipeline, "lower_to_core", never)
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(64 * 28 * 28, 10))  # fmt: skip
    with pytest.raises(NmcError, match=(
        r"the network needs at least 294 cores \(75,264 neurons / 256 per core\), chip 'tianjic256' has 256 \(16x16 mesh\): "
        r"use .*a copy of the chip file with 'mesh 18 x 18' or larger"
    )):  # fmt: skip
        nmc.compile(model, input_shape=(1, 28, 28))


def test_an_snn_compiles_at_the_ticks_it_was_trained_with(tmp_path):
    import nmc
    from nmc import nn as nmc_nn

    model = nn.Sequential(nn.Linear(4, 3), nmc_nn.LIF(beta=0.9))
    nmc_nn.run(model.train(), torch.rand(2, 4), 12)  # a training step at 12 ticks
    torch.save(model.eval(), tmp_path / "snn.pt")
    compiled = nmc.compile(tmp_path / "snn.pt", target="mlir", level="snn")
    assert compiled.report["ticks"] == 12
    assert "12 ticks, as the SNN was trained (nmc.nn.run); --timesteps overrides" in compiled.notes
    assert nmc.compile(tmp_path / "snn.pt", target="mlir", level="snn", timesteps=20).report["ticks"] == 20
    assert nmc.compile(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), target="mlir", level="snn").report["ticks"] == 64
    # an SNN saved without its training ticks (the bundled digits_snn.pt predates nmc.nn.run recording them):
    # the default, and a note that says why; an ANN needs no such note
    plain = nn.Sequential(nn.Linear(4, 3), nmc_nn.LIF(beta=0.9)).eval()
    compiled = nmc.compile(plain, target="mlir", level="snn")
    assert compiled.report["ticks"] == 64
    assert any(n.startswith("64 ticks: the SNN does not record the ticks it was trained with") for n in compiled.notes)
    assert not any("does not record" in n for n in nmc.compile(plain, target="mlir", level="snn", timesteps=16).notes)


def test_wrong_files_are_named_for_what_they_hold(tmp_path):
    """Calibration data and nmc-run's network are recognised by content: a text file, JSON (the report), an
    array or a folder gets one line naming what it is and what was expected."""
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "report.json").write_text('{"files": []}')
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    model = str(EXAMPLES / "digits_mlp.pt")
    proc = run_cli(model, "--calibration", str(tmp_path / "notes.txt"), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, r"notes\.txt: is text, not a \.npy array of calibration data: save the array with np\.save")
    for name, what in (("report.json", r"is JSON text \(nmc-compile's report\)"), ("x.npy", r"is a NumPy array \(\.npy\)")):
        proc = run_tool("nmc-run", str(tmp_path / name), "--input", str(tmp_path / "x.npy"))
        assert proc.returncode == 2  # the input rejected (docs/design-notes.md, "Exit statuses")
        assert re.fullmatch(rf"nmc-run: error: \S*{re.escape(name)}: {what}, not a chip binary \(\.nmc\) or IR text \(\.mlir\)"
                            r": give OUTDIR/<model>\.nmc", proc.stderr.strip()), proc.stderr  # fmt: skip


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["missing.pt"], 2),  # a file the command line names is missing
        (["{mlp}", "--calibration", "missing.npy"], 2),
        (["{mlp}", "--calibration", "{mlp}"], 2),  # not the kind of file expected
        (["{mlp}", "--timesteps", "0"], 2),  # a bad option value
        (["missing.pt", "--explain"], 2),  # --explain rejects what the compile rejects
        (["{cnn}"], 2),  # no input shape for a model starting with a conv
        (["{mlp}", "--calibration", "{calib}", "--chip", "tiny"], 1),  # read, then the network does not fit the chip
    ],
)
def test_exit_statuses_follow_one_table(args, status, tmp_path):
    """docs/design-notes.md's table: 2 when the input is rejected before any work, 1 when the work fails."""
    files = {"{mlp}": str(EXAMPLES / "digits_mlp.pt"), "{cnn}": str(EXAMPLES / "digits_cnn.pt"),
             "{calib}": str(EXAMPLES / "digits_calib.npy")}  # fmt: skip
    proc = run_cli(*(files.get(a, str(tmp_path / a) if a.startswith("missing") else a) for a in args), "-o",
                   str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == status, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_zip_version_pythons_zipfile_refuses_is_no_traceback(tmp_path):
    """Found by the model-file fuzzer: sniffing the file raised zipfile's NotImplementedError. torch reads the
    archive with its own reader, so the model compiles."""
    model = tmp_path / "model.pt"
    _zip_of_version(model, 99)
    proc = run_cli(str(model), "--input-shape", "4", "-o", str(tmp_path / "out"), "--no-check")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "model.nmc").exists()


def test_a_plain_pickle_under_any_name_is_named_without_torchs_advice(tmp_path):
    """A pickle that is not a torch.save archive (pickle.dump of a dict, saved as .onnx): one sentence saying what it
    is and what nmc reads, not torch's paragraph suggesting weights_only=False (which would run the file's code)."""
    import pickle

    path = tmp_path / "model.onnx"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
    proc = run_cli(str(path), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, r"model\.onnx: a Python pickle that nmc's safe loader cannot read \(.+\); nmc reads models "
                                r"saved with torch\.save\(model, 'model\.pt'\)")  # fmt: skip
    assert "weights_only" not in proc.stderr
