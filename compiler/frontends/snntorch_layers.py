"""snnTorch neuron layers of a live model, read from the object (nothing is unpickled): the ones whose update an
nmc population computes exactly (docs/neuron-families.md), each refused otherwise with the reason and the fix.

snnTorch (1.0) steps a neuron once per call: `Leaky` computes `mem = beta * mem + input`, `Synaptic` first
`syn = alpha * syn + input` and then `mem = beta * mem + syn`; a spike is `mem - threshold > 0` (nmc's `>`).
`RLeaky` and `RSynaptic` add `recurrent(spk)` of the step before to `input` (a Linear, or `V * spk` one to one):
nmc's recurrent population, closed by a one-tick back edge. Resets: `zero` empties the membrane in the step that
fires (as nmc's `zero`; `Synaptic` and `RLeaky` only with `reset_delay=False`, their default delays it a step);
`subtract` removes the threshold in the *next* step, after that step's decay, which equals nmc's subtract (in the
step, before the decay) only when nothing decays (beta = 1, reset_delay=True); `none` never resets. snnTorch 1.0's `RSynaptic`
always resets a step late (its `reset_delay=False` branch fails under `init_hidden=True`), so it is read with
`subtract` and beta = 1, or `none`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.conversion.layers import Layer
from nmc.errors import NmcError

READ = ("Leaky", "Synaptic", "RLeaky", "RSynaptic")


def is_snntorch_neuron(m: Any) -> bool:
    return type(m).__module__.split(".")[0] == "snntorch" and hasattr(m, "reset_mechanism")


def _uniform(where: str, what: str, value: Any) -> float:
    a = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64).ravel()
    if not a.size or not np.all(a == a[0]) or not np.isfinite(a[0]):
        raise NmcError(f"{where}: {what} must be one finite value for the layer (nmc populations share it), "
                       f"got {a.size} values from {a.min(initial=0):g} to {a.max(initial=0):g}")  # fmt: skip
    return float(a[0])


def snntorch_layer(path: str, m: Any) -> Layer:
    """The population a live snnTorch neuron layer is (a Layer of kind "neuron"), or a one-line refusal."""
    kind = type(m).__name__
    where = f"layer '{path}' (snnTorch {kind})"
    if kind not in READ:
        raise NmcError(f"{where}: not a neuron nmc reads; nmc reads {', '.join(READ)} (docs/neuron-families.md): "
                       "rebuild with those")  # fmt: skip
    if not m.init_hidden:
        raise NmcError(f"{where}: init_hidden=False: its state is passed by a time loop in forward, which fx cannot trace "
                       "one tick at a time: build it with init_hidden=True (the state lives in the layer)")  # fmt: skip
    if m.inhibition or m.state_quant or _uniform(where, "graded_spikes_factor", m.graded_spikes_factor) != 1.0:
        raise NmcError(f"{where}: inhibition, state quantization and graded spikes have no nmc form: build without them")
    beta = _uniform(where, "beta", m.beta)
    threshold = _uniform(where, "threshold", m.threshold)
    if not 0.0 <= beta <= 1.0 or threshold <= 0:
        raise NmcError(f"{where}: beta {beta:g} must be in [0, 1] and threshold {threshold:g} positive")
    reset = m.reset_mechanism
    delayed = bool(getattr(m, "reset_delay", True))
    if kind == "RSynaptic" and not delayed:
        raise NmcError(f"{where}: reset_delay=False fails in snnTorch 1.0's RSynaptic under init_hidden=True (and does "
                       "nothing otherwise): build it with the default reset_delay=True and reset_mechanism='subtract' "
                       "with beta = 1, or reset_mechanism='none'")  # fmt: skip
    if kind == "RSynaptic" and reset == "zero":
        raise NmcError(f"{where}: reset_mechanism='zero' empties the membrane a step late in snnTorch 1.0's RSynaptic, "
                       "which nmc's neurons do not: build it with reset_mechanism='subtract', beta = 1, or 'none'")  # fmt: skip
    if reset == "subtract" and not delayed:
        raise NmcError(f"{where}: with reset_delay=False snnTorch subtracts the threshold twice over two steps when the "
                       "membrane stays above it, which nmc's neurons do not: build it with reset_delay=True (and beta = 1) "
                       "or reset_mechanism='zero'")  # fmt: skip
    if reset == "subtract" and beta != 1.0:
        raise NmcError(f"{where}: snnTorch subtracts the threshold in the step after a spike, after that step's decay, "
                       f"which nmc's neurons compute only when nothing decays (beta = 1, here {beta:g}): build it with "
                       "reset_mechanism='zero' (and retrain)")  # fmt: skip
    if kind in ("Synaptic", "RLeaky") and reset == "zero" and m.reset_delay:
        raise NmcError(f"{where}: reset_delay=True empties the membrane a step late, which nmc's neurons do not: build "
                       "it with reset_delay=False (and retrain)")  # fmt: skip
    params: dict[str, Any] = {"threshold": threshold, "reset": reset, "compare": "gt", "v_init": 0.0, "beta": beta}
    if kind in ("Synaptic", "RSynaptic"):
        alpha = _uniform(where, "alpha", m.alpha)
        if not 0.0 <= alpha <= 1.0:
            raise NmcError(f"{where}: alpha {alpha:g} must be in [0, 1]")
        params["alpha"] = alpha
    if kind in ("RLeaky", "RSynaptic"):
        params["recurrent"] = _recurrent(where, m)
    return Layer(path, "neuron", params=params, origin=f"snnTorch {kind}")


def _recurrent(where: str, m: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(weight, bias) of the projection an RLeaky/RSynaptic applies to its own spikes of the step before."""
    import torch

    rec = m.recurrent
    if isinstance(rec, torch.nn.Linear):
        w = rec.weight.detach().cpu().numpy().astype(np.float32)
        bias = rec.bias.detach().cpu().numpy().astype(np.float32) if rec.bias is not None else None
        return w, bias
    if hasattr(rec, "V") and not m.all_to_all:  # one to one: spk * V
        v = np.asarray(rec.V.detach().cpu(), dtype=np.float32).ravel()
        if v.size == 1 and not m.linear_features:
            raise NmcError(f"{where}: a scalar V does not say how many neurons the layer has: give V per neuron")
        n = int(m.linear_features) if v.size == 1 else v.size
        return np.diag(np.broadcast_to(v, (n,))).astype(np.float32), None
    raise NmcError(f"{where}: a {type(rec).__name__} recurrent projection; nmc reads a Linear one (linear_features=...) "
                   "or one to one (all_to_all=False, V per neuron)")  # fmt: skip
