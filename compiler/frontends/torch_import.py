"""PyTorch front end: model files and modules to the neutral layer graph.

Two entry roads:
* an `nn.Module` (in memory, or a `torch.save(model)` pickle loaded with
  `weights_only=True` and an allow-list of module classes), traced with torch.fx;
* a `torch.export` archive (.pt2), whose aten graph is read node by node.

Everything torch-specific stays here; `nmc.layers` takes it from there.
"""

from __future__ import annotations

import operator
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn
from torch.nn import functional as F

from nmc import nn as nmc_nn
from nmc.errors import NmcError
from nmc.layers import Layer, LayerGraph

# Module classes a pickled model may contain. Anything else is refused before it runs.
ALLOWED_MODULES: tuple[type, ...] = (
    nn.Sequential,
    nn.Linear,
    nn.Conv2d,
    nn.AvgPool2d,
    nn.Flatten,
    nn.ReLU,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.Dropout,
    nn.Identity,
    nmc_nn.IF,
    nmc_nn.LIF,
)
# Harmless torch layers nmc cannot compile: loading them lets the error name the layer.
LOADABLE_UNSUPPORTED: tuple[type, ...] = (
    nn.MaxPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    nn.Softmax,
)


# --------------------------------------------------------------------------- loading


def load_model(path: str | Path) -> nn.Module | torch.export.ExportedProgram:
    """Load a model file without executing code it may carry."""
    path = Path(path)
    if not path.is_file():
        raise NmcError(f"{path}: no such file")
    if path.suffix == ".pt2":
        from nmc.frontends.safe_pt2 import load_exported

        return load_exported(path)
    try:
        with torch.serialization.safe_globals([*ALLOWED_MODULES, *LOADABLE_UNSUPPORTED]):
            obj = torch.load(str(path), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        m = re.search(r"GLOBAL ([\w.]+)", str(e))
        if m is None:
            raise NmcError(f"{path}: not a readable torch file ({_one_line(e)})") from None
        raise NmcError(
            f"{path}: refused to load '{m.group(1)}': only models built from "
            f"{', '.join(c.__name__ for c in ALLOWED_MODULES)} may be unpickled; "
            "for other models save a torch.export archive (.pt2) or pass the module to nmc.compile()"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise NmcError(f"{path}: not a readable torch file ({_one_line(e)})") from None
    if isinstance(obj, dict):
        raise NmcError(
            f"{path}: holds a state_dict (weights only), not a model; save the whole model "
            "with torch.save(model) or torch.export.save(...)"
        )
    if not isinstance(obj, nn.Module):
        raise NmcError(f"{path}: holds a {type(obj).__name__}, not a torch model")
    return obj


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


# --------------------------------------------------------------------------- nn.Module via fx


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, nmc_nn.IF) or super().is_leaf_module(m, qualname)


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float32)


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def _module_layer(path: str, m: nn.Module) -> Layer:
    """The layer for one leaf module (inputs filled in by the caller)."""
    kind = type(m).__name__
    if isinstance(m, nn.Linear):
        return Layer(path, "linear", params={"weight": _np(m.weight), "bias": _np(m.bias)})
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or _pair(m.dilation) != [1, 1] or m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise NmcError(f"layer '{path}' (Conv2d): only groups=1, dilation=1 and numeric zero padding are supported")
        params = {"weight": _np(m.weight), "bias": _np(m.bias), "stride": _pair(m.stride), "padding": _pair(m.padding)}
        return Layer(path, "conv2d", params=params)
    if isinstance(m, nn.AvgPool2d):
        return _avgpool(path, m.kernel_size, m.stride, m.padding, m.ceil_mode)
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise NmcError(f"layer '{path}' (Flatten): only start_dim=1, end_dim=-1 is supported")
        return Layer(path, "flatten")
    if isinstance(m, nn.ReLU):
        return Layer(path, "relu")
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        if m.running_mean is None or m.running_var is None:
            raise NmcError(f"layer '{path}' ({kind}): needs running statistics (track_running_stats=True)")
        weight = m.weight if m.weight is not None else torch.ones_like(m.running_mean)
        bias = m.bias if m.bias is not None else torch.zeros_like(m.running_mean)
        params = {
            "weight": _np(weight),
            "bias": _np(bias),
            "mean": _np(m.running_mean),
            "var": _np(m.running_var),
            "eps": m.eps,
        }
        return Layer(path, "batchnorm", params=params)
    if isinstance(m, nn.Dropout | nn.Identity):
        return Layer(path, "identity")
    if isinstance(m, nmc_nn.IF):
        params = {"threshold": m.threshold, "reset": m.reset, "compare": m.compare, "v_init": m.v_init}
        if isinstance(m, nmc_nn.LIF):
            params["beta"] = m.beta
        return Layer(path, "neuron", params=params)
    hint = " (use AvgPool2d)" if isinstance(m, nn.MaxPool2d) else ""
    raise NmcError(f"layer '{path}' ({kind}): unsupported layer type{hint}")


def _avgpool(path: str, kernel: Any, stride: Any, padding: Any, ceil_mode: bool) -> Layer:
    stride = kernel if stride in (None, []) else stride
    if _pair(padding) != [0, 0] or ceil_mode:
        raise NmcError(f"layer '{path}' (AvgPool2d): only padding=0 and ceil_mode=False are supported")
    return Layer(path, "pool2d", params={"mode": "avg", "kernel": _pair(kernel), "stride": _pair(stride)})


def graph_from_module(model: nn.Module, input_shape: tuple[int, ...] | None) -> LayerGraph:
    model = model.eval()
    try:
        fx_graph = _Tracer().trace(model)
    except Exception as e:
        raise NmcError(f"cannot trace {type(model).__name__} with torch.fx ({_one_line(e)}); try torch.export") from None
    modules = dict(model.named_modules())
    layers: list[Layer] = []
    index: dict[torch.fx.Node, int] = {}
    outputs: list[int] = []
    first_consumer: nn.Module | None = None
    for node in fx_graph.nodes:
        ins = [index[a] for a in node.all_input_nodes if a in index]
        if node.op == "placeholder":
            if layers:
                raise NmcError(f"{type(model).__name__}: only models with a single input are supported")
            layer = Layer(node.name, "input")
        elif node.op == "call_module":
            m = modules[node.target]
            if first_consumer is None:
                first_consumer = m
            layer = _module_layer(str(node.target), m)
        elif node.op in ("call_function", "call_method"):
            layer = _function_layer(node)
        elif node.op == "output":
            outs = node.args[0] if isinstance(node.args[0], tuple | list) else (node.args[0],)
            outputs = [index[n] for n in outs]
            continue
        else:
            raise NmcError(f"node '{node.name}' ({node.op} {node.target}): not supported in a model graph")
        layer.inputs = ins
        index[node] = len(layers)
        layers.append(layer)
    shape = input_shape or _infer_shape(first_consumer)
    return LayerGraph(layers, outputs, shape)


def _function_layer(node: torch.fx.Node) -> Layer:
    t = node.target
    name = node.name
    if t in (operator.add, operator.iadd, torch.add, "add", "add_", "__add__"):
        if len(node.all_input_nodes) != 2 or node.kwargs:
            raise NmcError(f"node '{name}' (add): only the sum of two tensors is supported")
        return Layer(name, "add")
    if t in (torch.relu, F.relu, "relu", "relu_"):
        return Layer(name, "relu")
    if t in (torch.flatten, "flatten"):
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        if start != 1:
            raise NmcError(f"node '{name}' (flatten): only flatten(x, 1) keeps the batch; use start_dim=1")
        return Layer(name, "flatten")
    if t in ("view", "reshape"):
        if len(node.args) == 3 and node.args[2] == -1:
            return Layer(name, "flatten")
        raise NmcError(f"node '{name}' ({t}): only x.{t}(x.size(0), -1) (a flatten) is supported")
    if t is F.avg_pool2d:
        a = list(node.args[1:]) + [None] * 4
        return _avgpool(name, a[0], node.kwargs.get("stride", a[1]), node.kwargs.get("padding", a[2] or 0), False)
    if t in (F.dropout, "contiguous", "clone"):
        return Layer(name, "identity")
    label = getattr(t, "__name__", str(t))
    raise NmcError(f"node '{name}' ({label}): unsupported operation")


def _infer_shape(first: nn.Module | None) -> tuple[int, ...]:
    if isinstance(first, nn.Linear):
        return (first.in_features,)
    kind = type(first).__name__ if first is not None else "model"
    raise NmcError(f"cannot infer the input shape of a model starting with {kind}: give --input-shape (e.g. 1,8,8)")


# --------------------------------------------------------------------------- torch.export archives


def graph_from_exported(ep: torch.export.ExportedProgram, input_shape: tuple[int, ...] | None) -> LayerGraph:
    gm = ep.module()
    layers: list[Layer] = []
    index: dict[torch.fx.Node, int] = {}
    outputs: list[int] = []
    shape: tuple[int, ...] | None = input_shape
    aten = torch.ops.aten

    def attr(n: Any) -> np.ndarray | None:
        if n is None:
            return None
        if not isinstance(n, torch.fx.Node) or n.op != "get_attr":
            raise NmcError(f"node '{getattr(n, 'name', n)}': expected a parameter")
        obj: Any = gm
        for part in str(n.target).split("."):
            obj = getattr(obj, part)
        return _np(obj)

    for node in gm.graph.nodes:
        if node.op == "get_attr" or (node.op == "call_module" and node.target == "_guards_fn"):
            continue
        if node.op == "placeholder":
            if layers:
                raise NmcError("only models with a single input are supported")
            val = node.meta.get("val")
            if shape is None and val is not None:
                shape = tuple(int(d) for d in val.shape[1:])
            layer = Layer(node.name, "input")
        elif node.op == "output":
            outs = node.args[0] if isinstance(node.args[0], tuple | list) else (node.args[0],)
            outputs = [index[n] for n in outs]
            continue
        elif node.op == "call_function":
            t, a = node.target, list(node.args)
            src = node.meta.get("nn_module_stack")
            name, mtype = next(reversed(src.values())) if src else (node.name, "")
            mtype = str(mtype).rsplit(".", 1)[-1].strip("'>")
            if t == aten.linear.default:
                layer = Layer(name, "linear", params={"weight": attr(a[1]), "bias": attr(a[2] if len(a) > 2 else None)})
            elif t == aten.conv2d.default:
                a += [None] * (7 - len(a))
                dil, groups = a[5] or [1, 1], a[6] or 1
                if list(dil) != [1, 1] or groups != 1 or isinstance(a[4], str):
                    raise NmcError(f"layer '{name}' (conv2d): only groups=1, dilation=1, numeric padding")
                params = {
                    "weight": attr(a[1]),
                    "bias": attr(a[2]),
                    "stride": _pair(a[3] or 1),
                    "padding": _pair(a[4] or 0),
                }
                layer = Layer(name, "conv2d", params=params)
            elif t in (aten.relu.default, aten.relu_.default):
                layer = Layer(name, "relu")
            elif t in (aten.add.Tensor, aten.add_.Tensor):
                layer = Layer(name, "add")
            elif t == aten.avg_pool2d.default:
                a += [None] * (6 - len(a))
                layer = _avgpool(name, a[1], a[2], a[3] or 0, bool(a[4]))
            elif t in (aten.flatten.using_ints, aten.view.default, aten.reshape.default):
                layer = Layer(name, "flatten")
            elif t in (aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default):
                eps = a[7] if t == aten.batch_norm.default else a[6]
                params = {"weight": attr(a[1]), "bias": attr(a[2]), "mean": attr(a[3]), "var": attr(a[4]), "eps": eps}
                layer = Layer(name, "batchnorm", params=params)
            elif t in (operator.getitem, aten.dropout.default, aten.clone.default, aten.alias.default):
                layer = Layer(name, "identity")
            else:
                what = f"layer '{name}' ({mtype})" if mtype else f"node '{node.name}'"
                raise NmcError(f"{what}: unsupported operation {t}")
        else:
            raise NmcError(f"node '{node.name}' ({node.op}): not supported in an exported graph")
        layer.inputs = [index[n] for n in node.all_input_nodes if n in index]
        if layer.kind == "batchnorm":
            layer.inputs = layer.inputs[:1]
        index[node] = len(layers)
        layers.append(layer)
    if shape is None:
        raise NmcError("cannot infer the input shape of the exported program: give --input-shape")
    return LayerGraph(layers, outputs, shape)


def layer_graph(model: Any, input_shape: tuple[int, ...] | None = None) -> LayerGraph:
    """The layer graph of an nn.Module or ExportedProgram, with every parameter finite."""
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
        # a damaged module (a submodule that is not one, a 1-D Linear weight, padding=None, ...)
        raise NmcError(f"{type(model).__name__}: a layer's state is not what its class expects ({_one_line(e)})") from None
    for layer in graph.layers:
        for key, value in layer.params.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
                raise NmcError(f"layer '{layer.name}' ({layer.kind}): '{key}' holds NaN or infinite values")
    return graph
