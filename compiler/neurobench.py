"""NeuroBench's workload metrics of the model as nmc imported it (the snn level), with NeuroBench's definitions.

NeuroBench (Yik et al., Nature Communications 2025; the `neurobench` package 2.3) measures a model on data
with hooks on its connection layers (Linear, Conv) and its neuron layers:

* **ActivationSparsity**: zero outputs over all outputs of the neuron layers, over every step and sample;
* **SynapticOperations**: per sample, `Dense` = the products of every weight with every input (zeros
  included) of every connection layer at every step, `Effective_ACs` / `Effective_MACs` = only those
  of a nonzero weight with a nonzero input, counted as accumulates when the layer's input is binary
  (spikes) and as multiply-accumulates otherwise; biases are not synaptic operations;
* **MembraneUpdates**: per sample, every neuron at the first step, then every neuron whose membrane
  the step changed. NeuroBench's hooks read snnTorch's membrane after the step, and snnTorch applies a
  reset in the step after the spike, so the membranes compared are those before this step's reset.

nmc computes them by running its snn-level interpreter on the same data (which reproduces snnTorch's
spikes for NIR files: docs/nir.md), observing every op: dense and conv ops are the connection layers,
IF/LIF populations the neuron layers. Pooling and adds are not connection layers in NeuroBench either.
The chip's own counts (partial-sum units, relays, quantized spikes) are report.json's `chip_run`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.conversion.layers import evaluate
from nmc.dialects import snn
from nmc.dialects.ir_arrays import to_numpy
from nmc.runtime.snn_interp import run_snn, windows

SAMPLES = 32  # per-sample averages: the first 32 calibration samples measure them (one interpreter run)


def _products(op: Any, x: np.ndarray, w_nonzero: np.ndarray) -> float:
    """Sum over the batch of the products a connection op (snn dense/conv op, or an ANN layer) makes with nonzero
    weights and inputs `x != 0`."""
    xs = (x != 0).astype(w_nonzero.dtype)  # 0/1 products: each output's float32 sum is exact (below 2**24)
    if isinstance(op, snn.DenseOp) or getattr(op, "kind", None) == "linear":
        return float((xs.reshape(xs.shape[0], -1) @ w_nonzero.T).sum(dtype=np.float64))
    if isinstance(op, snn.Conv2dOp):
        stride = tuple(int(v) for v in op.stride.get_values())
        ph, pw = (int(v) for v in op.padding.get_values())
    else:
        stride, (ph, pw) = tuple(op.params["stride"]), op.params["padding"]
    if ph or pw:
        xs = np.pad(xs, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = windows(xs, w_nonzero.shape[2:], stride)
    return float(np.einsum("bchwij,ocij->bohw", win, w_nonzero, optimize=True).sum(dtype=np.float64))


def workload_metrics(snn_module: Any, x: np.ndarray) -> dict[str, Any]:
    """NeuroBench's ActivationSparsity, SynapticOperations and MembraneUpdates of the snn-level network on the first
    SAMPLES samples of `x` (one array, or one per network input)."""
    x = [a[:SAMPLES] for a in x] if isinstance(x, list | tuple) else x[:SAMPLES]
    samples = int((x[0] if isinstance(x, list) else x).shape[0])
    fired = outputs = 0
    ops = {"Effective_MACs": 0.0, "Effective_ACs": 0.0, "Dense": 0.0}
    updates = 0
    nonzero: dict[int, tuple[np.ndarray, float]] = {}  # id(op) -> (weights != 0, Dense products of one sample-tick)
    previous: dict[int, np.ndarray] = {}

    def observe(op: Any, kernel: Any, args: list[np.ndarray], out: np.ndarray) -> None:
        nonlocal fired, outputs, updates
        if isinstance(op, snn.DenseOp | snn.Conv2dOp):
            if id(op) not in nonzero:  # Dense: every weight, zeros included, times an all-ones input (the same each tick)
                w = to_numpy(op.weights)
                nonzero[id(op)] = ((w != 0).astype(np.float32), _products(op, np.ones_like(args[0][:1]), np.ones(w.shape)))
            w_nonzero, dense = nonzero[id(op)]
            spiking = bool(np.isin(args[0], (0.0, 1.0)).all())
            ops["Effective_ACs" if spiking else "Effective_MACs"] += _products(op, args[0], w_nonzero)
            ops["Dense"] += dense * args[0].shape[0]
        elif isinstance(op, snn.IFOp | snn.LIFOp | snn.CubaLIFOp):
            fired += int(np.count_nonzero(out))
            outputs += int(out.size)
            v, before = kernel.state["v_before_reset"], previous.get(id(op))
            updates += int(v.size) if before is None else int(np.count_nonzero(v != before))
            previous[id(op)] = v.copy()

    run_snn(snn_module, x, observe=observe)
    per = max(samples, 1)
    return {
        "activation_sparsity": round(1.0 - fired / outputs, 6) if outputs else 0.0,
        "synaptic_operations": {k: round(v / per, 4) for k, v in ops.items()},
        "membrane_updates": round(updates / per, 4),
        "samples": samples,
    }


def ann_metrics(graph: Any, x: np.ndarray) -> dict[str, Any]:
    """NeuroBench's ActivationSparsity (of the ReLUs) and SynapticOperations of the float ANN a converted model was,
    on the first SAMPLES samples of `x`: one pass, so multiply-accumulates (accumulates where an input is 0/1)."""
    x = (x[0] if isinstance(x, list | tuple) else x)[:SAMPLES]  # a converted ANN has one input
    fired = outputs = 0
    ops = {"Effective_MACs": 0.0, "Effective_ACs": 0.0, "Dense": 0.0}

    def observe(layer: Any, ins: list[np.ndarray], y: np.ndarray) -> None:
        nonlocal fired, outputs
        if layer.kind in ("linear", "conv2d"):
            w = layer.params["weight"]
            spiking = bool(np.isin(ins[0], (0.0, 1.0)).all())
            ops["Effective_ACs" if spiking else "Effective_MACs"] += _products(layer, ins[0], (w != 0).astype(np.float32))
            ops["Dense"] += _products(layer, np.ones_like(ins[0]), np.ones(w.shape, np.float32))
        elif layer.kind == "relu":
            fired += int(np.count_nonzero(y))
            outputs += int(y.size)

    evaluate(graph, x, observe=observe)
    per = max(int(x.shape[0]), 1)
    return {
        "activation_sparsity": round(1.0 - fired / outputs, 6) if outputs else 0.0,
        "synaptic_operations": {k: round(v / per, 4) for k, v in ops.items()},
        "samples": int(x.shape[0]),
    }
