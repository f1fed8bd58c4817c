"""The one engine dispatch: which simulator runs a chip image and which interpreter runs an IR module,
by the core kind (nmc.chips.kinds) — used by `Compiled.run`, `nmc.load` and `nmc-run` alike.

A kind's runtime facet (`ENGINE`) is an `EngineFacet`: the devices its simulator runs on, the
simulator of its binary image, what a run decides (the outputs `Compiled.run` returns: decoded
outputs for crossbar networks, the winning line per sample for TNN columns), and its IR interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmc.chips.binary import ChipImage, kind_of
from nmc.chips.errors import NmcError
from nmc.chips.kinds import CoreKind, kinds_of_ops


@dataclass(frozen=True)
class EngineFacet:
    devices: tuple[str, ...]  # where its simulator runs: numpy, cpu (torch), cuda (torch)
    simulator: Callable[[ChipImage], Any]  # the image -> an object whose .run(x, **options) simulates a batch
    decisions: Callable[[Any], Any]  # a run -> what Compiled.run returns
    interpret: Callable[..., Any]  # (module, x, **options) -> the IR interpreter's run
    run_options: tuple[str, ...] = ()  # options its .run takes beyond device and record (e.g. learn)


def engine_of_image(image: ChipImage) -> tuple[CoreKind, EngineFacet]:
    kind = kind_of(image)
    return kind, kind.facet("runtime")


def engine_of_module(module: Any) -> tuple[CoreKind, EngineFacet]:
    kinds = kinds_of_ops({op.name for op in module.walk()})
    if len(kinds) != 1:
        raise NmcError(f"the module holds networks of {len(kinds)} core kinds; the interpreter runs one")
    return kinds[0], kinds[0].facet("runtime")


def check_device(kind: CoreKind, engine: EngineFacet, device: str) -> None:
    """A device the kind's simulator runs on and this machine has; else one line saying what to use."""
    if device not in engine.devices:
        raise NmcError(f"--device {device}: the {kind.name} simulator runs on {' or '.join(engine.devices)}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise NmcError("--device cuda: torch sees no CUDA device here; use --device cpu or numpy")


def simulate(image: ChipImage, x: np.ndarray, *, device: str = "numpy", **options: Any) -> Any:
    """Run a batch on the image's simulator (numpy is every engine's default device)."""
    kind, engine = engine_of_image(image)
    check_device(kind, engine, device)
    unknown = set(options) - {"record", *engine.run_options}
    if unknown:
        raise NmcError(f"--{sorted(unknown)[0]}: the {kind.name} simulator has no such option")
    if device != "numpy":
        options["device"] = device
    return engine.simulator(image).run(x, **options)


def decide(image: ChipImage, x: np.ndarray, *, device: str = "numpy") -> Any:
    """What the chip decides on `x` (the outputs `Compiled.run` and `nmc.load(...).run` return)."""
    _, engine = engine_of_image(image)
    return engine.decisions(simulate(image, x, device=device))


def interpret(module: Any, x: np.ndarray, **options: Any) -> Any:
    """The module's IR interpreter run on `x`."""
    _, engine = engine_of_module(module)
    return engine.interpret(module, x, **options)
