"""TNN lowering and mapping as plain functions; snn-to-core, partition-cores, place-cores and route call them.

* `lower_network` (snn-to-core): each `tnn.layer` of C columns becomes C `tnn.column` ops (one per TNN
  core) joined by a `tnn.concat`, and the network takes the chip. The column ops keep each column's
  fields, weights, theta, k, response, random state and network-wide index, so every column computes
  exactly what it computed inside the layer; a column larger than the chip's tnn_column (p, q, k,
  threshold width, response) is refused, not split: k-WTA spans the whole column and the body
  potential is one sum, so no split keeps the spike times.
* `partition` (partition-cores): one column per core, in program order (a column is the core's unit).
* `core_traffic`, `place` (place-cores): cores on the mesh by the generic annealing, on the traffic
  of lines one column reads from another; `route` (route): each column's destination cores and the
  routing-table entries that needs (one multicast entry per output line read on another core).

`MAPPING` is the TNN column kind's passes facet (nmc.chips.kinds, nmc.passes.kind_mapping).

Mapping adds attributes only, so it cannot change a spike.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import Float64Type, FloatAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, i64
from xdsl.ir import SSAValue

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import tnn
from nmc.dialects.core import ChipAttr
from nmc.dialects.ir_arrays import from_numpy, to_numpy
from nmc.dialects.tnn import column_limits


def tnn_networks(module: ModuleOp) -> list[tnn.NetworkOp]:
    return [op for op in module.walk() if isinstance(op, tnn.NetworkOp)]


def _i(v: int) -> IntegerAttr:
    return IntegerAttr(int(v), i64)


def lower_network(net: tnn.NetworkOp, chip: Chip) -> None:
    """snn level -> core level, in place (see the module docstring)."""
    if net.chip is not None:
        return  # already core level
    if chip.tnn_column is None:
        raise NmcError(
            f"chip '{chip.name}' has no tnn_column core kind, so it cannot run a TNN: use a chip with one (e.g. --chip tnn16)"
        )
    kind = chip.tnn_column
    for key in ("time_bits", "weight_bits"):
        value = getattr(net, key).value.data
        if value > kind[key]:
            raise NmcError(f"network '{net.sym_name.data}': {key} {value}, chip '{chip.name}' tnn_column.{key} is {kind[key]}")

    block, first = net.body.block, 0
    for op in [o for o in block.ops if isinstance(o, tnn.LayerOp)]:
        fields, weights, theta, states = (np.asarray(to_numpy(a)) for a in (op.fields, op.weights, op.theta, op.rng_state))
        c, q, p = weights.shape
        problems = column_limits(op.layer.data, p, q, op.k.value.data, op.response.data, int(theta.max(initial=0)), chip)
        if problems:
            raise NmcError(problems[0])
        cols = []
        for i in range(c):
            col = tnn.ColumnOp.build(
                operands=[op.input],
                result_types=[tnn.TimesType(q)],
                properties={
                    "fields": from_numpy(fields[i], IntegerType(64)),
                    "weights": from_numpy(weights[i], IntegerType(8)),
                    "theta": from_numpy(theta[i], IntegerType(64)),
                    "k": op.k, "response": op.response, "layer": StringAttr(f"{op.layer.data}/c{i}"),
                    "column": _i(first + i), "rng_state": _i(int(states[i])),
                },
            )  # fmt: skip
            col.results[0].name_hint = f"{op.layer.data}.c{i}"
            block.insert_op_before(col, op)
            cols.append(col.results[0])
        first += c
        if c == 1:
            op.output.replace_all_uses_with(cols[0])
        else:
            cat = tnn.ConcatOp.build(operands=[cols], result_types=[op.output.type])
            cat.results[0].name_hint = op.layer.data
            block.insert_op_before(cat, op)
            op.output.replace_all_uses_with(cat.output)
        op.detach()
        op.erase()
    net.properties["chip"] = ChipAttr(chip)


def columns(net: tnn.NetworkOp) -> list[tnn.ColumnOp]:
    cols = [op for op in net.body.block.ops if isinstance(op, tnn.ColumnOp)]
    if not cols and any(isinstance(op, tnn.LayerOp) for op in net.body.block.ops):
        raise NmcError("the tnn.network is at the snn level: run snn-to-core first")
    return cols


def line_sources(net: tnn.NetworkOp) -> dict[SSAValue, list[tuple[int, int]]]:
    """For each value, where each of its lines comes from: (column index in `columns`, line) or (-1, encoder line)."""
    index = {c.output: i for i, c in enumerate(columns(net))}
    src: dict[SSAValue, list[tuple[int, int]]] = {}
    for op in net.body.block.ops:
        if isinstance(op, tnn.EncodeOp):
            src[op.output] = [(-1, j) for j in range(op.output.type.lines)]  # type: ignore[attr-defined]
        elif isinstance(op, tnn.ColumnOp):
            src[op.output] = [(index[op.output], j) for j in range(op.output.type.lines)]  # type: ignore[attr-defined]
        elif isinstance(op, tnn.ConcatOp):
            src[op.output] = [s for v in op.inputs for s in src[v]]
    return src


def traffic(net: tnn.NetworkOp) -> np.ndarray:
    """Lines column a sends to column b per sample (each line spikes at most once): (n, n)."""
    cols, src = columns(net), line_sources(net)
    t = np.zeros((len(cols), len(cols)))
    for b, col in enumerate(cols):
        for a, _line in {src[col.input][int(f)] for f in to_numpy(col.fields)}:  # distinct lines b reads
            if a >= 0:
                t[a, b] += 1
    return t


def partition(net: tnn.NetworkOp) -> None:
    cols = columns(net)
    chip = net.chip.data  # type: ignore[union-attr]
    if len(cols) > chip.cores:
        raise NmcError(
            f"the TNN needs {len(cols)} cores (one per column), chip '{chip.name}' has {chip.cores}: use a larger mesh"
        )
    for i, col in enumerate(cols):
        col.properties["core"] = _i(i)


def core_traffic(net: tnn.NetworkOp) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(cores used, source core, destination core, lines per sample) between columns (one per core)."""
    cols = columns(net)
    if any(c.core is None for c in cols):
        raise NmcError("place-cores: the TNN columns have no core: run partition-cores first")
    t = traffic(net)
    src, dst = np.nonzero(t)
    return len(cols), src, dst, t[src, dst]


def place(net: tnn.NetworkOp, xy: np.ndarray) -> None:
    for col, (x, y) in zip(columns(net), xy, strict=True):
        col.properties["x"], col.properties["y"] = _i(x), _i(y)


def route(net: tnn.NetworkOp) -> dict[str, float]:
    """Destination cores per column; routing-table entries checked against the chip; traffic and mean hops."""
    cols, src = columns(net), line_sources(net)
    chip = net.chip.data  # type: ignore[union-attr]
    if any(c.x is None for c in cols):
        raise NmcError("route: the TNN columns have no mesh position: run place-cores first")
    dests: list[set[int]] = [set() for _ in cols]
    remote_lines: list[set[int]] = [set() for _ in cols]
    for b, col in enumerate(cols):
        for f in to_numpy(col.fields):
            a, line = src[col.input][int(f)]
            if a >= 0 and a != b:
                dests[a].add(b)
                remote_lines[a].add(line)
    limit = chip.router["table_entries"]
    packets = hops = 0.0
    for a, col in enumerate(cols):
        if len(remote_lines[a]) > limit:
            raise NmcError(
                f"column '{col.layer.data}' needs {len(remote_lines[a])} routing-table entries, chip '{chip.name}' has {limit}"
            )
        col.properties["dests"] = from_numpy(np.array(sorted(dests[a]), np.int64), IntegerType(64))
        for b in dests[a]:
            d = abs(col.x.value.data - cols[b].x.value.data) + abs(col.y.value.data - cols[b].y.value.data)  # type: ignore[union-attr]
            packets += len(remote_lines[a])
            hops += len(remote_lines[a]) * d
    return {"traffic": packets, "hops": hops / packets if packets else 0.0}


class TnnMapping:
    """The TNN column kind's passes facet (see nmc.passes.kind_mapping.MappingFacet)."""

    def pending(self, module: ModuleOp) -> bool:
        return any(net.chip is None for net in tnn_networks(module))

    def lower(self, module: ModuleOp, chip: Chip) -> None:
        for net in tnn_networks(module):
            lower_network(net, chip)

    def networks(self, module: ModuleOp) -> list[tnn.NetworkOp]:
        return [net for net in tnn_networks(module) if net.chip is not None]

    def partition(self, net: tnn.NetworkOp, strategy: str, seed: int) -> None:
        partition(net)  # a column is a core's unit: one per core, whatever the strategy

    def core_traffic(self, net: tnn.NetworkOp) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        return core_traffic(net)

    def place(self, net: tnn.NetworkOp, xy: np.ndarray, strategy: str) -> None:
        place(net, xy)

    def route(self, net: tnn.NetworkOp) -> None:
        stats = route(net)
        net.attributes["traffic"] = FloatAttr(round(stats["traffic"], 6), Float64Type())
        net.attributes["hops"] = FloatAttr(round(stats["hops"], 6), Float64Type())


MAPPING = TnnMapping()
