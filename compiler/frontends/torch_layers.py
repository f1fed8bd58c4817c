"""One constructor per torch layer kind, shared by the module, fx-function and aten readers.

Each takes the layer's arguments as torch states them and returns a `Layer`
of the neutral graph, or an `unsupported` layer whose reason says what is not
supported, why, and the one thing to do instead (the same text whichever road
the model came by).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nmc.conversion.layers import Layer, dense_groups
from nmc.frontends.torch_load import reason_for


def ints(v: Any, dims: int) -> list[int]:
    """An int or a sequence as `dims` ints (torch's `int[2]` convention: a single value repeats)."""
    if isinstance(v, int | float):
        return [int(v)] * dims
    vals = [int(x) for x in v]
    return vals * dims if len(vals) == 1 else vals


def tensor(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float32)


def unsupported(name: str, origin: str, reason: str | None = None) -> Layer:
    if reason is None:
        known = reason_for(origin)
        reason = (
            f"{known[0]} {known[1]}"
            if known
            else f"{origin} is not a layer nmc converts (see docs/frontend.md for those it does)"
        )
    return Layer(name, "unsupported", params={"reason": f"layer '{name}' ({origin}): {reason}"}, origin=origin)


def conv(
    name: str,
    origin: str,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> Layer:
    dims = weight.dim() - 2
    if dims not in (1, 2):
        return unsupported(name, origin, f"{dims}-D convolutions are not supported: use Conv1d or Conv2d")
    kernel = list(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same" and all(k % 2 for k in kernel) and ints(stride, dims) == [1] * dims:
            padding = [k // 2 for k in kernel]
        else:
            return unsupported(name, origin, f"padding='{padding}' with kernel {kernel}: give numeric padding")
    if ints(dilation, dims) != [1] * dims:
        return unsupported(name, origin, f"dilation={ints(dilation, dims)} is not supported: use dilation=1")
    if padding_mode != "zeros":
        return unsupported(name, origin, f"padding_mode='{padding_mode}' is not supported: use 'zeros'")
    w = tensor(weight)
    if groups != 1:  # grouped / depthwise: the dense weight with zeros between groups (conversion.layers.dense_groups)
        w = dense_groups(w, int(groups))
    params = {"weight": w, "bias": tensor(bias), "stride": ints(stride, dims), "padding": ints(padding, dims),
              "groups": int(groups)}  # fmt: skip
    return Layer(name, "conv2d" if dims == 2 else "conv1d", params=params, origin=origin)


def avg_pool(name: str, origin: str, dims: int, kernel: Any, stride: Any, padding: Any = 0, ceil_mode: bool = False,
             count_include_pad: bool = True, divisor_override: Any = None) -> Layer:  # fmt: skip
    """An average pool; zero padding counted in the window (torch's default) is a fixed linear map, so it is kept."""
    kernel = ints(kernel, dims)
    stride = kernel if stride in (None, []) else ints(stride, dims)
    padding = ints(padding, dims)
    if ceil_mode or divisor_override is not None or (any(padding) and not count_include_pad):
        return unsupported(
            name,
            origin,
            "ceil_mode, divisor_override or count_include_pad=False average border windows over fewer values, which "
            "nmc does not support: use ceil_mode=False and count the padding (count_include_pad=True, the default)",
        )
    kind = "pool2d" if dims == 2 else "pool1d"
    params = {"mode": "avg", "kernel": kernel, "stride": stride, **({"padding": padding} if any(padding) else {})}
    return Layer(name, kind, params=params, origin=origin)


def max_pool(
    name: str, origin: str, dims: int, kernel: Any, stride: Any, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> Layer:
    kernel = ints(kernel, dims)
    stride = kernel if stride in (None, []) else ints(stride, dims)
    if ints(dilation, dims) != [1] * dims or ceil_mode:
        return unsupported(name, origin, "dilation or ceil_mode is not supported: use dilation=1, ceil_mode=False")
    return Layer(name, "maxpool", params={"kernel": kernel, "stride": stride, "padding": ints(padding, dims)}, origin=origin)


def adaptive_avg_pool(name: str, origin: str, dims: int, output: Any) -> Layer:
    out = [output] * dims if isinstance(output, int) or output is None else list(output)
    return Layer(name, "adaptive_avgpool", params={"output": out}, origin=origin)


def clipped_relu(name: str, origin: str, low: float | None, high: float | None) -> Layer:
    """max(x, 0) capped at `high`: an IF neuron whose threshold is at most the cap (exact clipping)."""
    if low is None or float(low) != 0.0:
        what = "no lower bound" if low is None else f"lower bound {float(low):g}"
        if low is not None and float(low) > 0:
            return unsupported(name, origin, f"{what}: only a lower bound of 0 converts (a ReLU); shift the bias or use 0")
        return unsupported(
            name,
            origin,
            f"{what} passes negative values, which spike rates cannot carry: "
            "use a lower bound of 0 (ReLU6, Hardtanh(0, c)) and fine-tune",
        )
    if high is not None and float(high) <= 0:
        return unsupported(
            name, origin, f"upper bound {float(high):g} makes the output always 0: remove the layer or raise the bound"
        )
    params = {} if high is None else {"cap": float(high)}
    return Layer(name, "relu", params=params, origin=origin)


def reshape(name: str, origin: str, per_sample: Sequence[int]) -> Layer:
    return Layer(name, "reshape", params={"shape": tuple(int(d) for d in per_sample)}, origin=origin)


def mean(name: str, origin: str, dims: Any, keepdim: bool) -> Layer:
    dims = [int(dims)] if isinstance(dims, int) else [int(d) for d in dims]
    if 0 in dims or not dims:
        return unsupported(
            name,
            origin,
            "a mean over the batch (or over everything) is not a per-sample layer: average over feature dimensions only",
        )
    return Layer(name, "mean", params={"dims": dims, "keepdim": bool(keepdim)}, origin=origin)


def concat(name: str, origin: str, tensors: Any, dim: Any) -> Layer:
    """torch.cat(tensors, dim): joined along a per-sample axis (dim 0 would join samples, which a chip never sees)."""
    if not isinstance(tensors, tuple | list) or not isinstance(dim, int):
        return unsupported(name, origin, "only torch.cat of a list of tensors along a fixed integer dim is supported")
    if dim == 0:
        return unsupported(name, origin, "dim=0 joins samples of the batch; concatenate features (dim=1, channels) instead")
    return Layer(name, "concat", params={"dim": dim}, origin=origin)
