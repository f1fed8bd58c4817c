"""What a compile returns (`Compiled`: files, report, module; run and save) and its step clock.

Kept apart from the driver (nmc.api) so that every compile path builds the same object.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips.binary import decode
from nmc.driver import check_output_dir
from nmc.report import Report
from nmc.runtime.engines import decide, engine_of_module


@dataclass
class Compiled:
    name: str
    files: dict[str, str | bytes]
    report: Report  # report.json, typed sections (nmc.report)
    module: Any = None
    notes: list[str] = field(default_factory=list)
    # wall time of each step; not in report.json, which must be byte-identical for the same input
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def binary(self) -> bytes | None:
        data = self.files.get(f"{self.name}.nmc")
        return data if isinstance(data, bytes) else None

    def run(self, x: np.ndarray, *, device: str = "numpy") -> Any:
        """What the chip decides on `x` (its kind's decisions: decoded outputs, batch first, for crossbar
        networks; the winning line per sample for TNN columns), on the binary's simulator when there is a
        binary, else on the IR interpreter of the module's kind."""

        if self.binary is not None:
            return decide(decode(self.binary), x, device=device)
        _, engine = engine_of_module(self.module)
        return engine.decisions(engine.interpret(self.module, x))

    def save(self, outdir: str | Path) -> Path:
        """Write every artefact and report.json into `outdir`, all or nothing.

        Everything is first written to a hidden folder beside `outdir` (same filesystem), then
        moved in file by file with atomic renames; an error or Ctrl-C before that leaves `outdir`
        as it was. Files an earlier run wrote (its report.json lists them) and this one does not
        are removed; other files in `outdir` are never touched.
        """
        import os
        import shutil
        import tempfile

        outdir = check_output_dir(Path(outdir))
        outdir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=outdir.parent, prefix=f".{outdir.name}."))
        try:
            for name, content in self.files.items():  # names may hold a folder: synth/<top>.ys
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(content if isinstance(content, bytes) else content.encode())
            (staging / "report.json").write_text(json.dumps(self.report, indent=2, sort_keys=True))
            names = sorted([*self.files, "report.json"])
            for name in names:
                os.chmod(staging / name, 0o644)
            previous = _previous_files(outdir)
            with _commit_uninterrupted():
                outdir.mkdir(exist_ok=True)
                for name in names:
                    (outdir / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging / name, outdir / name)
                for stale in previous - {*self.files, "report.json"}:
                    (outdir / stale).unlink(missing_ok=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return outdir


@contextlib.contextmanager
def _commit_uninterrupted() -> Iterator[None]:
    """The moves into the output folder (milliseconds) finish once begun: a Ctrl-C that arrives while they
    run is dropped, so the folder ends whole, never half-written (before them it still leaves nothing)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _previous_files(outdir: Path) -> set[str]:
    """The files an earlier nmc-compile wrote into `outdir` (from its report.json), if any."""
    try:
        names = json.loads((outdir / "report.json").read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and "/" not in n and n not in ("", ".", "..")}


class StepClock:
    """Forwards step names to the progress display and times each step."""

    def __init__(self, progress: Callable[[str], None] | None):
        import time

        self.clock, self.progress = time.perf_counter, progress or (lambda _step: None)
        self.seconds: dict[str, float] = {}
        self.current, self.started = "", self.clock()

    def say(self, step: str) -> None:
        now = self.clock()
        if self.current:
            self.seconds[self.current] = round(self.seconds.get(self.current, 0.0) + now - self.started, 3)
        self.current, self.started = step, now
        self.progress(step)

    def finish(self) -> dict[str, float]:
        self.say("")
        return self.seconds
