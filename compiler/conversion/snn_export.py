"""A trained rate model written back as the SNN it stands for: torch layers and `nmc.nn.IF` neurons.

The module is built exactly as `nmc.conversion.layers.lower_to_snn` converts an ANN: the
weights that read a population are multiplied by the value sigma one of its spikes
stands for (`scaled_weights`, the same float32 product), each IF neuron's
threshold is λ / sigma of its input, reset by subtraction, compare `>=`. Compiling
this module with the same encoding and input scale therefore gives the snn IR
that converting the trained ANN with thresholds λ would give (tests check it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from nmc import nn as nmc_nn
from nmc.conversion.layers import scaled_weights
from nmc.errors import NmcError


def _neuron_module(net: Any, st: Any, q: dict, lam: float, keep: dict) -> nn.Module:
    """The nmc.nn population of a trained SNN stage: IF, LIF, CubaLIF, or their recurrent forms with the trained loop."""
    beta, alpha = q.get("beta"), q.get("alpha")
    loop = net.recurrent(st) if hasattr(net, "recurrent") else None
    if loop is None:
        if alpha is not None:
            return nmc_nn.CubaLIF(alpha, beta if beta is not None else 1.0, lam, **keep)
        return nmc_nn.IF(lam, **keep) if beta is None else nmc_nn.LIF(beta, lam, **keep)
    w, b = loop[0].T.detach().cpu(), loop[1].detach().cpu()
    size = int(w.shape[0])
    if alpha is not None:
        m: nn.Module = nmc_nn.RCubaLIF(size, alpha, beta if beta is not None else 1.0, lam, **keep)
    else:
        m = nmc_nn.RLIF(size, beta if beta is not None else 1.0, lam, **keep)
    m.recurrent.weight.copy_(w)
    m.recurrent.bias.copy_(b)
    return m


def snn_module(net: Any, ticks: int | None = None) -> nn.Sequential:
    """The `nmc.training.qat.RateNet`'s chain as an nmc.nn SNN (eval mode; `nmc_ticks` set when `ticks` is given)."""
    mods: list[nn.Module] = []
    sigma = float(net.input_sigma)
    with torch.no_grad():
        for st in net.stages:
            for ly in st.ops:
                p = ly.params
                if ly.kind in ("linear", "conv2d"):
                    w = (net.conv_weight(ly) if ly.kind == "conv2d" else net.weights[net._key(ly)]).detach().cpu().numpy()
                    if st.mask is not None and ly.kind == "linear":
                        w = w * st.mask
                    w = scaled_weights(w.astype(np.float32), sigma)
                    sigma = 1.0
                    has_bias = net._key(ly) in net.biases
                    if ly.kind == "linear":
                        m: nn.Module = nn.Linear(w.shape[1], w.shape[0], bias=has_bias)
                    else:
                        m = nn.Conv2d(
                            w.shape[1], w.shape[0], tuple(w.shape[2:]), tuple(p["stride"]), tuple(p["padding"]), bias=has_bias
                        )
                    m.weight.copy_(torch.from_numpy(w))
                    if has_bias:
                        m.bias.copy_(net.biases[net._key(ly)].detach().cpu())
                    mods.append(m)
                elif ly.kind == "pool2d":
                    if p["mode"] != "avg":
                        raise NmcError(f"layer '{ly.name}': a {p['mode']} pool has no torch layer to write")
                    mods.append(nn.AvgPool2d(tuple(p["kernel"]), tuple(p["stride"])))
                elif ly.kind == "flatten":
                    mods.append(nn.Flatten())
                elif ly.kind == "reshape":
                    mods.extend([nn.Flatten(), nn.Unflatten(1, tuple(int(d) for d in p["shape"]))])
            if st.relu is not None and st.relu.kind == "neuron":  # an SNN's own neuron, its threshold trained
                q = st.relu.params
                keep = {"reset": q["reset"], "compare": q["compare"], "v_init": q.get("v_init", 0.0)}
                lam = float(net.threshold(st).detach().cpu())
                mods.append(_neuron_module(net, st, q, lam, keep))
            elif st.relu is not None:
                lam = float(net.threshold(st).detach().cpu())
                mods.append(nmc_nn.IF(threshold=lam / sigma, reset="subtract", compare="ge"))
                sigma = lam
    model = nn.Sequential(*mods).eval()
    if ticks is not None:
        model.nmc_ticks = int(ticks)
    return model
