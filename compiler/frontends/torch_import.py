"""PyTorch front end: model files and modules to the neutral layer graph.

Two entry roads:
* an `nn.Module` (in memory, or a `torch.save(model)` pickle read by `torch_load`),
  traced with torch.fx (nmc.nn neurons are leaves);
* a `torch.export` archive (.pt2), whose aten graph `torch_export` reads.

Both map each layer through `torch_layers`, so a layer converts, or is refused
with the same words, whichever road it came by. Everything torch-specific stays
in this package; `nmc.conversion.layers` takes it from there.
"""

from __future__ import annotations

import operator
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn
from torch.nn import functional as F

from nmc import nn as nmc_nn
from nmc.conversion.layers import Layer, LayerGraph
from nmc.errors import NmcError
from nmc.frontends import torch_layers as tl
from nmc.frontends.safe_pt2 import one_line
from nmc.frontends.snntorch_layers import is_snntorch_neuron, snntorch_layer
from nmc.frontends.torch_export import graph_from_exported
from nmc.frontends.torch_load import TORCH_EXPORT_HINT, load_model, reason_for

__all__ = ["graph_from_module", "layer_graph", "load_model"]


# --------------------------------------------------------------------------- nn.Module via fx


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, nmc_nn.IF) or is_snntorch_neuron(m) or super().is_leaf_module(m, qualname)


_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Identity)


def _module_layer(path: str, m: nn.Module) -> Layer:
    """The layer for one leaf module (inputs filled in by the caller)."""
    kind = type(m).__name__
    if isinstance(m, nn.Linear):
        return Layer(path, "linear", params={"weight": tl.tensor(m.weight), "bias": tl.tensor(m.bias)}, origin=kind)
    if isinstance(m, nn.Conv1d | nn.Conv2d):
        return tl.conv(path, kind, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups, m.padding_mode)
    if isinstance(m, nn.AvgPool1d | nn.AvgPool2d):
        return tl.avg_pool(path, kind, 1 if isinstance(m, nn.AvgPool1d) else 2, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                           m.count_include_pad, getattr(m, "divisor_override", None))  # fmt: skip
    if isinstance(m, nn.MaxPool1d | nn.MaxPool2d):
        dims = 1 if isinstance(m, nn.MaxPool1d) else 2
        return tl.max_pool(path, kind, dims, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
    if isinstance(m, nn.AdaptiveAvgPool1d | nn.AdaptiveAvgPool2d):
        return tl.adaptive_avg_pool(path, kind, 1 if isinstance(m, nn.AdaptiveAvgPool1d) else 2, m.output_size)
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            return tl.unsupported(
                path, kind, f"start_dim={m.start_dim}, end_dim={m.end_dim}: only start_dim=1, end_dim=-1 keeps the batch"
            )
        return Layer(path, "flatten", origin=kind)
    if isinstance(m, nn.Unflatten):
        if m.dim not in (1, -1) and not isinstance(m.unflattened_size, tuple | list):
            return tl.unsupported(path, kind, f"dim={m.dim}: only unflattening the features (dim=1) is supported")
        return tl.reshape(path, kind, list(m.unflattened_size))
    if isinstance(m, nn.ReLU):
        return Layer(path, "relu", origin=kind)
    if isinstance(m, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        return tl.clipped_relu(path, kind, m.min_val, m.max_val)
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        if m.running_mean is None or m.running_var is None:
            return tl.unsupported(path, kind, "needs running statistics (track_running_stats=True)")
        weight = m.weight if m.weight is not None else torch.ones_like(m.running_mean)
        bias = m.bias if m.bias is not None else torch.zeros_like(m.running_mean)
        params = {
            "weight": tl.tensor(weight),
            "bias": tl.tensor(bias),
            "mean": tl.tensor(m.running_mean),
            "var": tl.tensor(m.running_var),
            "eps": m.eps,
        }
        return Layer(path, "batchnorm", params=params, origin=kind)
    if isinstance(m, _DROPOUTS):
        return Layer(path, "identity", origin=kind)
    if is_snntorch_neuron(m):
        return snntorch_layer(path, m)
    if isinstance(m, nmc_nn.IF):
        params = {"threshold": m.threshold, "reset": m.reset, "compare": m.compare, "v_init": m.v_init}
        if m.max_spikes != 1:
            params["max_spikes"] = m.max_spikes
        if isinstance(m, nmc_nn.LIF):
            params["beta"] = m.beta
        if isinstance(m, nmc_nn.CubaLIF):
            params["alpha"] = m.alpha
        if isinstance(m, nmc_nn.RLIF | nmc_nn.RCubaLIF):
            rec = m.recurrent
            bias = None if rec.bias is None else rec.bias.detach().cpu().numpy().astype(np.float32)
            params["recurrent"] = (rec.weight.detach().cpu().numpy().astype(np.float32), bias)
        return Layer(path, "neuron", params=params, origin=kind)
    return tl.unsupported(path, kind)


def graph_from_module(model: nn.Module, input_shape: tuple[int, ...] | None) -> LayerGraph:
    model = model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fx_graph = _Tracer().trace(model)
    except Exception as e:
        if "control flow" in str(e) or "Expected pred to be bool" in str(e):  # `if tensor:` / torch.cond on a proxy
            what, reason = reason_for("cond" if "pred" in str(e) else "if") or ("", "")
            raise NmcError(f"{type(model).__name__}{_user_line(e)}: {what} {reason}") from None
        raise NmcError(
            f"cannot trace {type(model).__name__} with torch.fx ({one_line(e)}); export it with {TORCH_EXPORT_HINT}"
        ) from None
    modules = dict(model.named_modules())
    layers: list[Layer] = []
    index: dict[torch.fx.Node, int] = {}
    shape_nodes: set[torch.fx.Node] = set()  # x.size(0), x.shape[0]: integers, not tensors
    outputs: list[int] = []
    first_consumer: nn.Module | None = None
    neuron_nodes: set[torch.fx.Node] = set()  # snnTorch layers: with output=True they return (spikes, membrane)
    for node in fx_graph.nodes:
        if node.op == "placeholder":
            if layers:
                raise NmcError(f"{type(model).__name__}: only models with a single input are supported")
            layer = Layer(node.name, "input")
        elif node.op == "call_module":
            m = modules[node.target]
            if first_consumer is None:
                first_consumer = m
            layer = _module_layer(str(node.target), m)
            if is_snntorch_neuron(m):
                neuron_nodes.add(node)
        elif node.op in ("call_function", "call_method"):
            if _is_shape_query(node, shape_nodes):
                shape_nodes.add(node)
                continue
            src = node.args[0] if node.args else None
            if node.target is operator.getitem and isinstance(src, torch.fx.Node) and src in neuron_nodes:
                if node.args[1] != 0 and not node.users:  # the membrane of (spikes, membrane), unpacked and unused
                    continue
                if node.args[1] != 0:  # (spikes, membrane) of an snnTorch layer with output=True
                    raise NmcError(f"layer '{src.target}': reads an snnTorch layer's membrane; nmc decodes spikes (or the "
                                   "membrane of a final nmc.nn.LIF with threshold never reached): use its spikes")  # fmt: skip
                index[node] = index[src]
                continue
            layer = _function_layer(node)
        elif node.op == "output":
            outs = node.args[0] if isinstance(node.args[0], tuple | list) else (node.args[0],)
            outputs = [index[n] for n in outs]
            continue
        else:
            raise NmcError(f"node '{node.name}' ({node.op} {node.target}): not supported in a model graph")
        layer.inputs = [index[a] for a in node.all_input_nodes if a in index]
        if layer.kind == "concat":  # in list order, a tensor given twice read twice
            layer.inputs = [index[a] for a in _arg(node, 0, "tensors")]
        index[node] = len(layers)
        layers.append(layer)
    shape = input_shape if input_shape is not None else _infer_shape(first_consumer)  # (): not known (--explain)
    return LayerGraph(layers, outputs, shape)


def _user_line(e: BaseException) -> str:
    """' (file.py:LINE `code`)': the innermost frame of the traceback outside torch, where the user's code failed."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/torch/" not in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    f = frames[-1]
    return f" ({Path(f.filename).name}:{f.lineno} `{(f.line or '').strip()}`)"


def _is_shape_query(node: torch.fx.Node, shape_nodes: set[torch.fx.Node]) -> bool:
    t = node.target
    if t in ("size", "dim") or (t is getattr and node.args[1:] == ("shape",)):
        return True
    return t is operator.getitem and isinstance(node.args[0], torch.fx.Node) and node.args[0] in shape_nodes


def _arg(node: torch.fx.Node, i: int, name: str, default: Any = None) -> Any:
    """Argument `i` (1 = the first after the tensor) of a call, given positionally or by name."""
    return node.args[i] if len(node.args) > i else node.kwargs.get(name, default)


_AVG_POOL_ARGS = (("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False), ("count_include_pad", True),
                  ("divisor_override", None))  # fmt: skip
_MAX_POOL_ARGS = (("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1), ("ceil_mode", False))


def _args(node: torch.fx.Node, spec: tuple[tuple[str, Any], ...]) -> list[Any]:
    """The call's arguments after the tensor, positional or by name, with defaults."""
    return [_arg(node, i + 1, name, default) for i, (name, default) in enumerate(spec)]


def _function_layer(node: torch.fx.Node) -> Layer:
    """A torch function or tensor method call in an fx graph."""
    t, name = node.target, node.name
    label = t if isinstance(t, str) else getattr(t, "__name__", str(t))
    if t in (operator.add, operator.iadd, torch.add, "add", "add_", "__add__"):
        if len(node.all_input_nodes) != 2 or node.kwargs:
            return tl.unsupported(name, "add", "only the sum of two tensors is supported")
        return Layer(name, "add", origin="add")
    if t in (torch.cat, torch.concat, torch.concatenate):
        return tl.concat(name, label, _arg(node, 0, "tensors"), _arg(node, 1, "dim", 0))
    if t in (torch.relu, F.relu, "relu", "relu_"):
        return Layer(name, "relu", origin=label)
    if t in (F.relu6, "relu6"):
        return tl.clipped_relu(name, label, 0.0, 6.0)
    if t in (F.hardtanh, "hardtanh"):
        return tl.clipped_relu(name, label, _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0))
    if t in (torch.clamp, torch.clip, "clamp", "clip", torch.clamp_min, "clamp_min"):
        high = None if "min" in str(t) else _arg(node, 2, "max")
        return tl.clipped_relu(name, label, _arg(node, 1, "min"), high)
    if t in (torch.flatten, "flatten"):
        if _arg(node, 1, "start_dim", 0) != 1 or _arg(node, 2, "end_dim", -1) != -1:
            return tl.unsupported(name, "flatten", "only flatten(x, 1) keeps the batch: use start_dim=1")
        return Layer(name, "flatten", origin=label)
    if t in ("view", "reshape"):
        dims = list(node.args[1][0] if len(node.args) == 2 and isinstance(node.args[1], tuple | list) else node.args[1:])
        if len(dims) < 2 or any(not isinstance(d, int) for d in dims[1:]):
            return tl.unsupported(name, label, f"x.{t}(batch, ...) needs the per-sample sizes as integers")
        return tl.reshape(name, label, dims[1:])
    if t in ("unflatten",) and _arg(node, 1, "dim") in (1, -1):
        return tl.reshape(name, label, list(_arg(node, 2, "sizes")))
    if t in (F.avg_pool1d, F.avg_pool2d, F.max_pool1d, F.max_pool2d):
        dims = 1 if t in (F.avg_pool1d, F.max_pool1d) else 2
        if t in (F.avg_pool1d, F.avg_pool2d):
            return tl.avg_pool(name, label, dims, *_args(node, _AVG_POOL_ARGS))
        return tl.max_pool(name, label, dims, *_args(node, _MAX_POOL_ARGS))
    if t in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
        return tl.adaptive_avg_pool(name, label, 1 if t is F.adaptive_avg_pool1d else 2, _arg(node, 1, "output_size"))
    if t in (torch.mean, "mean"):
        return tl.mean(name, label, _arg(node, 1, "dim", []), _arg(node, 2, "keepdim", False))
    if t in (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, "contiguous", "clone"):
        return Layer(name, "identity", origin=label)
    return tl.unsupported(name, str(label))


def _infer_shape(first: nn.Module | None) -> tuple[int, ...]:
    if isinstance(first, nn.Linear):
        return (first.in_features,)
    kind = type(first).__name__ if first is not None else "model"
    raise NmcError(f"cannot infer the input shape of a model starting with {kind}: give --input-shape (e.g. 1,8,8)")


def layer_graph(model: Any, input_shape: tuple[int, ...] | None = None, *, keep_unsupported: bool = False) -> LayerGraph:
    """The layer graph of an nn.Module or ExportedProgram, with every parameter finite.

    An unsupported layer raises its message, unless `keep_unsupported` (for `--explain`,
    which lists every blocker).
    """
    if not isinstance(model, torch.export.ExportedProgram | nn.Module):
        raise NmcError(f"expected a torch model, got {type(model).__name__}")
    try:
        if isinstance(model, torch.export.ExportedProgram):
            graph = graph_from_exported(model, input_shape)
        else:
            graph = graph_from_module(model, input_shape)
    except NmcError:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, RuntimeError) as e:
        if "allocate" in str(e):  # torch's allocator refused: the caller's memory bound reports it
            raise MemoryError from None
        # a damaged module (a submodule that is not one, a 1-D Linear weight, padding=None, ...)
        raise NmcError(f"{type(model).__name__}: a layer's state is not what its class expects ({one_line(e)})") from None
    blockers = sorted((ly for ly in graph.layers if ly.kind == "unsupported"), key=lambda ly: not ly.params.get("control_flow"))
    if blockers and not keep_unsupported:
        raise NmcError(blockers[0].params["reason"])
    for layer in graph.layers:
        for key, value in layer.params.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
                raise NmcError(f"layer '{layer.name}' ({layer.kind}): '{key}' holds NaN or infinite values")
    return graph
