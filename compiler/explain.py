"""`nmc-compile --explain MODEL`: each layer, what it becomes on the chip, and every blocker, without compiling.

Reads the model like the compiler does (same loader, same layer constructors,
same rewrites), so a model it calls compilable gets past the front end, and a
blocker it lists is the message the compiler would stop at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nmc.conversion.layer_rewrites import prepare
from nmc.conversion.layers import Layer, LayerGraph, fold_batchnorm, layer_shape
from nmc.driver import ImportOptions, import_model
from nmc.errors import NmcError
from nmc.frontends.nir_graph import flatten_subgraphs, node_kind, order_nodes, read_graph
from nmc.frontends.sniff import kind_of


def _conversion(ly: Layer, graph: LayerGraph, index: int, spiking: bool) -> str:
    p = ly.params
    last_linear = ly.kind in ("linear", "conv2d", "conv1d") and all(
        graph.layers[j].kind in ("identity", "flatten", "reshape") for j in _downstream(graph, index)
    )
    text = {
        "input": "input encoder (--encoding direct|rate|poisson)",
        "linear": "synapses (all to all)",
        "conv2d": "synapses (convolution unrolled)",
        "conv1d": "synapses (convolution over a [C, 1, L] view)",
        "pool2d": "synapses (average pooling, weight 1/window)",
        "pool1d": "synapses (average pooling over a [C, 1, L] view)",
        "mean": "synapses (average pooling over the reduced dimensions)",
        "flatten": "relabeling (free)",
        "reshape": "relabeling (free)",
        "add": "synapses merged into the next neurons (each operand scaled by its spike rate)",
        "batchnorm": "folded into the layer before it",
        "identity": "removed (a no-op at inference)",
    }.get(ly.kind)
    if text is not None:
        return text + ("; decoded as the non-spiking readout (membrane)" if last_linear and not spiking else "")
    if ly.kind == "relu":
        cap = p.get("cap")
        capped = f", threshold at most the cap {cap:g} (the clipping is exact)" if cap is not None else ""
        return f"IF neurons, reset by subtraction, threshold = the activation scale (--percentile){capped}"
    if ly.kind == "maxpool":
        window = 1
        for k in p["kernel"]:
            window *= int(k)
        return (
            f"max tree: {max(0, (window - 1).bit_length())} levels of IF neurons, {window - 1} pairwise "
            "max(u, v) = v + relu(u - v) (exact on the float network, converts like any ReLU)"
        )
    if ly.kind == "adaptive_avgpool":
        return "synapses (average pooling with a fixed window = input / output size)"
    if ly.kind == "neuron":
        return f"{ly.origin or 'spiking'} population (one to one)"
    return "?"


def _downstream(graph: LayerGraph, index: int) -> list[int]:
    seen, todo = set(), [index]
    while todo:
        for u in graph.users(todo.pop()):
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return sorted(seen)


def explain(model: Any, input_shape: tuple[int, ...] | None = None) -> tuple[str, int]:
    """The explanation text and the number of blockers (0: the front end accepts the model)."""
    from nmc.frontends import torch_import
    from nmc.tnn import TNN

    source = str(model) if isinstance(model, str | Path) else type(model).__name__
    if isinstance(model, str | Path) and kind_of(model) == "hdf5":
        return _explain_nir(Path(model))
    if isinstance(model, str | Path):
        model = torch_import.load_model(model)  # a file that cannot be read at all is one line (NmcError)
    if isinstance(model, TNN):
        return _explain_tnn(source, model), 0
    unknown = False
    try:
        graph = torch_import.layer_graph(model, input_shape, keep_unsupported=True)
    except NmcError as e:
        # without --input-shape (or calibration) a model starting with a conv or a flatten still lists its layers
        if input_shape is not None or not str(e).startswith("cannot infer the input shape"):
            raise
        unknown = True
        graph = torch_import.layer_graph(model, (), keep_unsupported=True)
    rows = [("layer", "from", "shape", "on the chip")]
    blockers: list[str] = []
    shapes: list[tuple[int, ...] | None] = []
    spiking = graph.is_spiking
    for i, ly in enumerate(graph.layers):
        ins = [shapes[j] for j in ly.inputs]
        shape: tuple[int, ...] | None = None
        if ly.kind == "unsupported":
            blockers.append(ly.params["reason"])
            shape = ins[0] if ins else None
            what = "BLOCKER (see below)"
        else:
            what = _conversion(ly, graph, i, spiking)
            if all(s is not None for s in ins) and not unknown:
                try:
                    shape = layer_shape(ly, ins, graph.input_shape)  # type: ignore[arg-type]
                except NmcError as e:
                    blockers.append(str(e))
                    what = "BLOCKER (see below)"
        shapes.append(shape)
        rows.append((ly.name, ly.origin or ly.kind, "x".join(map(str, shape)) if shape else "?", what))
    if not blockers and not unknown:  # (the rewrites need the shapes)
        try:
            prepare(fold_batchnorm(graph))
        except NmcError as e:
            blockers.append(str(e))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = [f"{source}: {'spiking network' if spiking else 'ANN, converted to IF neurons'}"]
    lines += ["  " + "  ".join(r[k].ljust(widths[k]) for k in range(3)) + "  " + r[3] for r in rows]
    if unknown:
        lines.append("shapes: give --input-shape (e.g. 1,8,8) or --calibration X.npy to see them and check them")
    if blockers:
        lines.append(f"{len(blockers)} blocker(s):")
        lines += [f"  - {b}" for b in blockers]
    elif unknown:
        lines.append("no blockers found without the shapes")
    else:
        lines.append("no blockers: nmc-compile accepts this model")
    return "\n".join(lines), len(blockers)


def _explain_tnn(source: str, model: Any) -> str:
    """A temporal neural network: its encoder and columns, what each becomes (docs/tnn.md)."""
    lines = [f"{source}: temporal neural network (nmc.tnn), compiled to TNN columns (docs/tnn.md), not converted"]
    lines.append(f"  input  {'x'.join(map(str, model.input_shape))} series, {model.encoder_kind} encoder, "
                 f"{model.fields_per_value} field(s) per value, {model.time_bits}-bit spike times")  # fmt: skip
    for i, layer in enumerate(model.layers):
        c, q, p = (int(d) for d in layer.weight.shape)
        lines.append(f"  layer{i}  {c} column(s) of {q} neurons x {p} synapses, {layer.response} response, k = {layer.k}, "
                     f"{model.weight_bits}-bit weights: one TNN column each (STDP on chip)")  # fmt: skip
    lines.append("no blockers at the front end; nmc-compile checks the columns against the chip's limits "
                 "(--forecast predicts the silicon without Yosys)")  # fmt: skip
    return "\n".join(lines)


# what each NIR node becomes (docs/nir.md's table, in short)
NIR_BECOMES = {
    "Input": "spike-train input (snn.encode_spikes)",
    "Output": "decoder: spike count, or membrane of a current / LI / I",
    "Affine": "synapses (W x + b)",
    "Linear": "synapses (W x)",
    "Conv2d": "synapses (convolution unrolled)",
    "Conv1d": "synapses (convolution over a [C, 1, L] view)",
    "SumPool2d": "synapses (sum pooling)",
    "AvgPool2d": "synapses (average pooling)",
    "Flatten": "relabeling (free)",
    "Scale": "folded into the projection before it",
    "LIF": "LIF neurons (beta = 1 - dt/tau, held by the chip's leak: docs/nir.md)",
    "IF": "IF neurons",
    "CubaLIF": "current-based LIF neurons (alpha, beta; a chip with core.neuron cuba, or Xylo: docs/neuron-families.md)",
    "Threshold": "stateless threshold neurons (a LIF with beta = 0)",
    "LI": "membrane decoder (output only)",
    "I": "integrating decoder (output only)",
    "Delay": "axon delays",
}


def _explain_nir(path: Path) -> tuple[str, int]:
    """A NIR graph: each node in dataflow order, what it becomes, and the importer's refusal if any."""
    blockers: list[str] = []
    rows = [("node", "type", "shape", "on the chip")]
    nodes, edges = flatten_subgraphs(read_graph(path))
    try:
        order, _, _ = order_nodes(nodes, edges)
    except NmcError as e:
        order = list(nodes)
        blockers.append(str(e))
    for name in order:
        node = nodes[name]
        kind = node_kind(node)
        types = getattr(node[1] if isinstance(node, tuple) else node, "output_type", None) or {}
        shape = next((list(map(int, v)) for v in types.values() if v is not None), None)
        rows.append((name, kind, "x".join(map(str, shape)) if shape else "?", NIR_BECOMES.get(kind, "see docs/nir.md")))
    if not blockers:
        try:
            import_model(path, ImportOptions(name=path.stem))
        except NmcError as e:
            blockers.append(str(e).removeprefix(f"{path}: "))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = [f"{path}: NIR graph, {len(nodes)} nodes"]
    lines += ["  " + "  ".join(r[k].ljust(widths[k]) for k in range(3)) + "  " + r[3] for r in rows]
    if blockers:
        lines.append(f"{len(blockers)} blocker(s):")
        lines += [f"  - {b}" for b in blockers]
    else:
        lines.append("no blockers: nmc-compile accepts this graph")
    return "\n".join(lines), len(blockers)
