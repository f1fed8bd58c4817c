"""Spiking neuron modules for PyTorch that compile exactly to `snn.if` / `snn.lif`.

The modules are stateful: each call advances one tick, and `run` (or
`reset_state`) starts a new sample. They train with a surrogate gradient
(fast sigmoid) through the non-differentiable spike. Their forward arithmetic is
the snn dialect's, operation for operation, so the snn interpreter reproduces
their spikes exactly at the same floating precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nmc.runtime.spike_counts import multi_spikes

RESETS = ("zero", "subtract", "none")
COMPARES = ("ge", "gt")


class _SpikeFn(torch.autograd.Function):
    """Heaviside step forward, fast-sigmoid derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, strict: bool, slope: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0 if strict else x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None, None


class IF(nn.Module):
    """Integrate-and-fire neurons: `v += I; s = v >= threshold; reset`.

    reset: 'subtract' (v -= threshold), 'zero' (v = 0) or 'none'.
    compare: 'ge' (fire at v >= threshold) or 'gt' (v > threshold).
    max_spikes: spikes per tick (1); above 1 (with reset='subtract') the neuron fires while v passes the threshold,
    subtracting it each time, and outputs the count: Xylo's hidden neurons (31), snn `max_spikes`.
    """

    max_spikes = 1  # the class default: modules saved before the option existed load with it

    def __init__(
        self,
        threshold: float = 1.0,
        reset: str = "subtract",
        compare: str = "ge",
        v_init: float = 0.0,
        surrogate_slope: float = 25.0,
        *,
        max_spikes: int = 1,
    ):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        if compare not in COMPARES:
            raise ValueError(f"compare must be one of {COMPARES}, got {compare!r}")
        if not threshold > 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        self.threshold = float(threshold)
        self.reset = reset
        self.compare = compare
        self.v_init = float(v_init)
        self.surrogate_slope = float(surrogate_slope)
        if not 1 <= int(max_spikes) <= 255 or (max_spikes > 1 and reset != "subtract"):
            raise ValueError(f"max_spikes must be in [1, 255] (above 1 with reset='subtract'), got {max_spikes} ({reset})")
        self.max_spikes = int(max_spikes)
        self.v: torch.Tensor | None = None

    def reset_state(self) -> None:
        self.v = None

    def integrate(self, v: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        return v + current

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        v = self.v if self.v is not None else torch.full_like(current, self.v_init)
        v = self.integrate(v, current)
        s = _SpikeFn.apply(v - self.threshold, self.compare == "gt", self.surrogate_slope)
        if self.max_spikes > 1:  # the interpreters' count (runtime/spike_counts.py)
            n = multi_spikes(v.detach(), self.threshold, self.compare == "gt", self.max_spikes)
            # gradient: the first spike's surrogate, and one per further threshold passed (straight through)
            soft = s + ((v - self.threshold) / self.threshold).clamp(0, self.max_spikes - 1)
            s = soft + (n - soft).detach()
            self.v = v - n * self.threshold
            return s
        if self.reset == "subtract":
            v = v - s.detach() * self.threshold
        elif self.reset == "zero":
            v = torch.where(s.detach() > 0, torch.zeros_like(v), v)
        self.v = v
        return s

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, reset={self.reset}, compare={self.compare}"


class LIF(IF):
    """Leaky integrate-and-fire neurons: `v = beta * v + I`, then fire and reset as `IF`.

    Give `beta` directly, or `tau` and `dt` (seconds) for `beta = exp(-dt / tau)`.
    """

    def __init__(
        self,
        beta: float | None = None,
        threshold: float = 1.0,
        reset: str = "subtract",
        compare: str = "ge",
        v_init: float = 0.0,
        surrogate_slope: float = 25.0,
        *,
        tau: float | None = None,
        dt: float = 1e-3,
        max_spikes: int = 1,
    ):
        super().__init__(threshold, reset, compare, v_init, surrogate_slope, max_spikes=max_spikes)
        if beta is None:
            if tau is None:
                raise ValueError("LIF needs beta, or tau and dt")
            beta = math.exp(-dt / tau)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        self.beta = float(beta)

    def integrate(self, v: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        return self.beta * v + current

    def extra_repr(self) -> str:
        return f"beta={self.beta}, " + super().extra_repr()


class CubaLIF(LIF):
    """Current-based LIF neurons (docs/neuron-families.md): `i = alpha * i + I`, `v = beta * v + i`, then fire and
    reset `v` as `IF` (the synaptic current keeps its value). snnTorch's `Synaptic` with reset_delay=False."""

    def __init__(self, alpha: float, beta: float, threshold: float = 1.0, reset: str = "zero", compare: str = "gt",
                 v_init: float = 0.0, surrogate_slope: float = 25.0, *, max_spikes: int = 1):  # fmt: skip
        super().__init__(beta, threshold, reset, compare, v_init, surrogate_slope, max_spikes=max_spikes)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.i: torch.Tensor | None = None

    def reset_state(self) -> None:
        super().reset_state()
        self.i = None

    def integrate(self, v: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        self.i = current if self.i is None else self.alpha * self.i + current
        return self.beta * v + self.i

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, " + super().extra_repr()


class _Recurrent:
    """A population that also reads its own spikes of the tick before through `self.recurrent` (an nn.Linear): its
    input current is `I + recurrent(s_prev)`, as snnTorch's RLeaky/RSynaptic compute it (the snn level closes the loop
    with a one-tick back edge, snn.delay)."""

    recurrent: nn.Linear
    s_prev: torch.Tensor | None

    def _init_recurrent(self, size: int, bias: bool) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.recurrent = nn.Linear(size, size, bias=bias)
        self.s_prev = None

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if current.shape[-1] != self.recurrent.in_features:
            raise ValueError(f"{type(self).__name__} of {self.recurrent.in_features} neurons got a current of shape "
                             f"{list(current.shape)}")  # fmt: skip
        prev = self.s_prev if self.s_prev is not None else torch.zeros_like(current)
        s = super().forward(current + self.recurrent(prev))  # type: ignore[misc]
        self.s_prev = s
        return s

    def reset_state(self) -> None:
        super().reset_state()  # type: ignore[misc]
        self.s_prev = None


class RLIF(_Recurrent, LIF):
    """Recurrent LIF neurons: `v = beta * v + I + recurrent(s_prev)`, then fire and reset as `LIF` (snnTorch's
    RLeaky with reset_delay=False). `size` neurons, all to all through an nn.Linear (`bias` optional)."""

    def __init__(self, size: int, beta: float | None = None, threshold: float = 1.0, reset: str = "zero",
                 compare: str = "gt", v_init: float = 0.0, surrogate_slope: float = 25.0, *, bias: bool = True,
                 tau: float | None = None, dt: float = 1e-3, max_spikes: int = 1):  # fmt: skip
        LIF.__init__(self, beta, threshold, reset, compare, v_init, surrogate_slope, tau=tau, dt=dt, max_spikes=max_spikes)
        self._init_recurrent(size, bias)

    def extra_repr(self) -> str:
        return f"size={self.recurrent.in_features}, " + super().extra_repr()


class RCubaLIF(_Recurrent, CubaLIF):
    """Recurrent current-based LIF neurons: `i = alpha * i + I + recurrent(s_prev)`, `v = beta * v + i`, fire and reset
    `v` (snnTorch's RSynaptic, which needs beta = 1 with its delayed subtract; here any reset)."""

    def __init__(self, size: int, alpha: float, beta: float, threshold: float = 1.0, reset: str = "zero",
                 compare: str = "gt", v_init: float = 0.0, surrogate_slope: float = 25.0, *, bias: bool = True,
                 max_spikes: int = 1):  # fmt: skip
        CubaLIF.__init__(self, alpha, beta, threshold, reset, compare, v_init, surrogate_slope, max_spikes=max_spikes)
        self._init_recurrent(size, bias)

    def extra_repr(self) -> str:
        return f"size={self.recurrent.in_features}, " + super().extra_repr()


NEURON_TYPES = (IF, LIF, CubaLIF, RLIF, RCubaLIF)


def reset_states(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, IF):
            m.reset_state()


def encoder(x: torch.Tensor, encoding: str = "direct", scale: float = 1.0, seed: int = 0) -> Callable[[int], torch.Tensor]:
    """Per-tick input of `snn.encode_<encoding>`: returns `tick -> tensor`, stateful, call in order."""
    if encoding == "direct":
        return lambda t: x * scale
    if encoding == "rate":
        state = {"u": torch.zeros_like(x)}

        def rate(t: int) -> torch.Tensor:
            u = state["u"] + x * scale
            s = (u >= 1).to(x.dtype)
            state["u"] = u - s
            return s

        return rate
    if encoding == "poisson":
        rng = np.random.default_rng(seed)
        p = np.clip(x.detach().cpu().numpy().astype(np.float64) * scale, 0.0, 1.0)
        return lambda t: torch.from_numpy(rng.random(p.shape) < p).to(x.dtype)
    raise ValueError(f"unknown encoding {encoding!r}")


def run(
    model: nn.Module,
    x: torch.Tensor,
    ticks: int,
    *,
    encoding: str = "direct",
    scale: float = 1.0,
    seed: int = 0,
    record: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run `model` for `ticks` ticks on a batch `x` and stack its outputs `[ticks, batch, ...]`.

    In training mode the model remembers `ticks` (`model.nmc_ticks`), and nmc-compile uses it
    unless `--timesteps` says otherwise.

    With `record=True` also return every neuron module's spikes `[ticks, batch, ...]` by module path.
    """
    reset_states(model)
    if model.training:  # remembered with the model (torch.save keeps it): nmc-compile runs it as long by default
        model.nmc_ticks = int(ticks)
    traces: dict[str, list[torch.Tensor]] = {}
    hooks = []
    if record:
        for path, m in model.named_modules():
            if isinstance(m, IF):
                traces[path] = []
                hooks.append(m.register_forward_hook(lambda _m, _i, out, p=path: traces[p].append(out.detach())))
    feed = encoder(x, encoding, scale, seed)
    try:
        outs = torch.stack([model(feed(t)) for t in range(ticks)])
    finally:
        for h in hooks:
            h.remove()
        reset_states(model)
    if record:
        return outs, {k: torch.stack(v) for k, v in traces.items()}
    return outs
