"""torch.export archives: the aten graph of an `ExportedProgram`, read node by node into layers.

Arguments are bound to the op's schema (names and defaults), so each aten op
maps to the same `torch_layers` constructor as its `nn.Module` and functional
forms; layer names come from the export's module stack.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path
from typing import Any

import torch
import torch.fx

from nmc.conversion.layers import Layer, LayerGraph
from nmc.errors import NmcError
from nmc.frontends import torch_layers as tl


def _bind(node: torch.fx.Node) -> dict[str, Any]:
    """The call's arguments by schema name, defaults filled in."""
    out: dict[str, Any] = {}
    for i, arg in enumerate(node.target._schema.arguments):  # type: ignore[union-attr]
        if i < len(node.args):
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        else:
            out[arg.name] = arg.default_value if arg.has_default_value() else None
    return out


def _per_sample(node: torch.fx.Node) -> list[int]:
    val = node.meta.get("val")
    if val is None:
        raise NmcError(f"node '{node.name}': the export records no output shape; export with torch.export.export")
    return [int(d) for d in val.shape[1:]]


_IDENTITY = ("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "clone", "alias", "contiguous")


def _aten_layer(node: torch.fx.Node, name: str, origin: str, param: Any) -> Layer:
    """The layer for one aten call (inputs filled in by the caller)."""
    op = node.target._overloadpacket.__name__ if hasattr(node.target, "_overloadpacket") else str(node.target)  # type: ignore[union-attr]
    label = origin or f"aten.{op}"
    if isinstance(node.target, torch._ops.HigherOrderOperator):  # torch.cond, torch.while_loop, ...: control flow
        layer = tl.unsupported(name, f"torch.{node.target.name()}")
        layer.params["control_flow"] = True  # the cause of its condition's own blockers: reported first
        return layer
    if node.target is operator.getitem or op in _IDENTITY:
        return Layer(name, "identity", origin=label)
    a = _bind(node)
    if op == "linear":
        return Layer(name, "linear", params={"weight": param(a["weight"]), "bias": param(a["bias"])}, origin=label)
    if op in ("conv1d", "conv2d", "convolution"):
        if op == "convolution" and (a["transposed"] or any(a["output_padding"])):
            return tl.unsupported(name, label, "transposed convolutions are not supported")
        w = param(a["weight"], tensor=True)
        return tl.conv(name, label, w, param(a["bias"], tensor=True), a["stride"], a["padding"], a["dilation"], a["groups"])
    if op in ("relu", "relu_"):
        return Layer(name, "relu", origin=label)
    if op in ("hardtanh", "hardtanh_"):
        return tl.clipped_relu(name, label, a["min_val"], a["max_val"])
    if op == "relu6":
        return tl.clipped_relu(name, label, 0.0, 6.0)
    if op in ("clamp", "clamp_", "clip"):
        return tl.clipped_relu(name, label, a["min"], a["max"])
    if op == "clamp_min":
        return tl.clipped_relu(name, label, a["min"], None)
    if op in ("add", "add_"):
        if not isinstance(a["other"], torch.fx.Node) or a.get("alpha", 1) != 1:
            return tl.unsupported(name, label, "only the sum of two tensors is supported")
        return Layer(name, "add", origin=label)
    if op in ("cat", "concat"):
        return tl.concat(name, label, a["tensors"], a.get("dim", 0))
    if op in ("avg_pool1d", "avg_pool2d"):
        dims = int(op[-2])
        return tl.avg_pool(name, label, dims, a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"],
                           a.get("count_include_pad", True), a.get("divisor_override"))  # fmt: skip
    if op in ("max_pool1d", "max_pool2d"):
        dims = int(op[-2])
        return tl.max_pool(name, label, dims, a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"])
    if op in ("adaptive_avg_pool1d", "adaptive_avg_pool2d"):
        return tl.adaptive_avg_pool(name, label, int(op[-2]), a["output_size"])
    if op == "mean":
        return tl.mean(name, label, a["dim"] or [], a["keepdim"])
    if op == "flatten":
        if a["start_dim"] != 1 or a["end_dim"] != -1:
            return tl.unsupported(name, label, "only flatten(x, 1) keeps the batch: use start_dim=1")
        return Layer(name, "flatten", origin=label)
    if op in ("view", "reshape", "unflatten", "_unsafe_view"):
        return tl.reshape(name, label, _per_sample(node))
    if op in ("batch_norm", "_native_batch_norm_legit_no_training"):
        keys = ("weight", "bias", "running_mean", "running_var")
        w, b, mean, var = (param(a[k]) for k in keys)
        params = {"weight": w, "bias": b, "mean": mean, "var": var, "eps": a["eps"]}
        return Layer(name, "batchnorm", params=params, origin=label)
    return tl.unsupported(name, label)


def _source(node: torch.fx.Node) -> str:
    """' at model.py:12' from the frame torch.export recorded for the op (its last line: the user's forward)."""
    trace = str(node.meta.get("stack_trace") or "").strip().splitlines()
    frames = [re.match(r'\s*File "(.+)", line (\d+), in (\w+)', line) for line in trace]
    last = next((m for m in reversed(frames) if m and not m[1].startswith("<eval_with_key>")), None)  # not torch's code
    return f" at {Path(last[1]).name}:{last[2]}" if last else ""


def _internal(name: str) -> bool:
    """A module-stack entry torch.export adds itself (never one of the user's layers)."""
    return name.startswith("_empty_nn_module_stack")


def graph_from_exported(ep: torch.export.ExportedProgram, input_shape: tuple[int, ...] | None) -> LayerGraph:
    gm = ep.module()
    layers: list[Layer] = []
    index: dict[torch.fx.Node, int] = {}
    outputs: list[int] = []
    shape: tuple[int, ...] | None = input_shape

    def param(n: Any, tensor: bool = False) -> Any:
        if n is None:
            return None
        if not isinstance(n, torch.fx.Node) or n.op != "get_attr":
            raise NmcError(f"node '{getattr(n, 'name', n)}': expected a parameter")
        obj: Any = gm
        for part in str(n.target).split("."):
            obj = getattr(obj, part)
        return obj if tensor else tl.tensor(obj)

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
            if isinstance(node.meta.get("val"), int | float | torch.SymInt | torch.SymFloat | torch.SymBool):
                # shape arithmetic on a dynamic batch (x.size(0) in x.view(x.size(0), -1)): a number, not a
                # layer; the reshape that uses it keeps the batch, and its per-sample shape is in its own meta
                continue
            # the innermost module the op ran in; an op in the top-level forward itself is named by the op
            src = {k: v for k, v in (node.meta.get("nn_module_stack") or {}).items() if v[0] and not _internal(v[0])}
            name, mtype = next(reversed(src.values())) if src else (node.name, "")
            origin = str(mtype).rsplit(".", 1)[-1].strip("'>") if mtype else ""
            layer = _aten_layer(node, name, origin, param)
        else:
            raise NmcError(f"node '{node.name}' ({node.op}): not supported in an exported graph")
        if layer.kind == "unsupported" and not src:  # an op of the forward itself: the line the export recorded
            layer.params["reason"] = layer.params["reason"].replace(
                f"layer '{layer.name}' (", f"layer '{layer.name}'{_source(node)} (", 1
            )
        layer.inputs = [index[n] for n in node.all_input_nodes if n in index]
        if layer.kind == "batchnorm":
            layer.inputs = layer.inputs[:1]
        if layer.kind == "concat":  # in list order, a tensor given twice read twice
            layer.inputs = [index[n] for n in _bind(node)["tensors"]]
        index[node] = len(layers)
        layers.append(layer)
    if shape is None:
        raise NmcError("cannot infer the input shape of the exported program: give --input-shape")
    return LayerGraph(layers, outputs, shape)
