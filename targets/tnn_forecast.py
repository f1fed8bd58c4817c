"""Silicon forecast of a TNN column (docs/tnn-hardware.md, "Forecast"): cells, area, leakage and delay from p and q.

benchmarks/tnn_hw.py synthesizes columns of several shapes (Yosys onto OSU 0.18 um, OpenSTA),
fits two models per metric by least squares and writes the coefficients to tnn_forecast.json
(package data); `nmc-compile --forecast` evaluates them here in microseconds, without Yosys.

* "tnngen": TNNGen's model, each metric linear in the synapse count: a + b * p q.
* "refined": what the column is made of: area-like metrics a + b p q + c q ceil(log2(p + 1))
  (per synapse a weight register and STDP unit; per neuron a body whose counter and compare grow
  with log p); the critical path a + b log2 p + c log2 q (the body's adder tree, then the WTA).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import numpy as np

METRICS = ("cells", "area_um2", "leakage_w", "delay_ns")
MODELS = ("tnngen", "refined")
FIT_FILE = "tnn_forecast.json"


def features(model: str, metric: str, p: int, q: int) -> list[float]:
    if model == "tnngen":
        return [1.0, float(p * q)]
    if metric == "delay_ns":
        return [1.0, math.log2(p), math.log2(q)]
    return [1.0, float(p * q), float(q * math.ceil(math.log2(p + 1)))]


def fit(model: str, metric: str, shapes: list[tuple[int, int]], values: list[float]) -> list[float]:
    a = np.array([features(model, metric, p, q) for p, q in shapes])
    coef, *_ = np.linalg.lstsq(a, np.asarray(values, np.float64), rcond=None)
    return [float(c) for c in coef]


def predict(model: str, metric: str, coef: list[float], p: int, q: int) -> float:
    return float(np.dot(features(model, metric, p, q), coef))


def load_fit() -> dict[str, Any] | None:
    """The stored fit, or None before benchmarks/tnn_hw.py has written one."""
    path = resources.files("nmc.targets").joinpath(FIT_FILE)
    return json.loads(path.read_text()) if path.is_file() else None


def forecast_column(stored: dict[str, Any], p: int, q: int, clock_mhz: float) -> dict[str, float]:
    """Predicted cells, area, leakage and slack (at `clock_mhz`) of one p x q column, by each metric's chosen model."""
    out = {}
    for metric in METRICS:
        entry = stored["metrics"][metric]
        out[metric] = predict(entry["model"], metric, entry["coefficients"][entry["model"]], p, q)
    out["slack_ns"] = 1000.0 / clock_mhz - out.pop("delay_ns")
    return out
