"""The chip binary of a mapped TNN (nmc.chips.tnn_binary): one column per core, in core order."""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.chips.errors import NmcError
from nmc.chips.tnn_format import RESPONSES, STDP_CASES
from nmc.dialects import tnn
from nmc.dialects.ir_arrays import to_numpy
from nmc.passes.tnn_columns import columns, line_sources, tnn_networks


def build_tnn_image(module: Any) -> ChipImage:

    nets = tnn_networks(module)
    if len(nets) != 1:
        raise NmcError(f"the chip binary holds one network; the module has {len(nets)} tnn.network ops")
    (net,) = nets
    if net.chip is None:
        raise NmcError("the tnn.network is at the snn level: run snn-to-core, partition-cores, place-cores and route")
    cols = columns(net)
    if any(c.core is None or c.x is None or c.dests is None for c in cols):
        raise NmcError("the chip binary needs a mapped TNN: run partition-cores, place-cores and route")
    order = sorted(range(len(cols)), key=lambda i: cols[i].core.value.data)  # type: ignore[union-attr]
    if [cols[i].core.value.data for i in order] != list(range(len(cols))) or order != list(range(len(cols))):  # type: ignore[union-attr]
        raise NmcError("TNN columns must sit on cores 0..n-1 in program order (partition-cores does this)")
    first_line = np.concatenate([[0], np.cumsum([c.output.type.lines for c in cols])])  # type: ignore[attr-defined]
    src = line_sources(net)
    enc = next(op for op in net.body.block.ops if isinstance(op, tnn.EncodeOp))
    col_arrays: dict[str, list[Any]] = {
        k: [] for k in ("p", "q", "k", "response", "index", "state", "src_kind", "src_index", "weight", "theta", "dest")
    }
    for c in cols:
        w = np.asarray(to_numpy(c.weights), np.int64)
        q, p = w.shape
        feeds = [src[c.input][int(f)] for f in to_numpy(c.fields)]
        col_arrays["src_kind"].append(np.array([0 if a < 0 else 1 for a, _ in feeds], np.uint8))
        col_arrays["src_index"].append(np.array([line if a < 0 else first_line[a] + line for a, line in feeds], np.int32))
        col_arrays["weight"].append(w.astype(np.uint8).ravel())
        col_arrays["theta"].append(np.asarray(to_numpy(c.theta), np.int32))
        col_arrays["dest"].append(np.asarray(to_numpy(c.dests), np.int32))  # type: ignore[arg-type]
        for key, v in (("p", p), ("q", q), ("k", c.k.value.data), ("response", RESPONSES.index(c.response.data)),
                       ("index", c.column.value.data), ("state", c.rng_state.value.data)):  # fmt: skip
            col_arrays[key].append(v)
    out = net.body.block.last_op
    assert isinstance(out, tnn.OutputOp)
    out_lines = np.array([first_line[a] + line for a, line in src[out.outputs[0]]], np.int32)
    if any(a < 0 for a, _ in src[out.outputs[0]]):
        raise NmcError("the TNN's output must be column lines")
    chip = net.chip.data
    proj = np.asarray(to_numpy(enc.projection), np.float64)
    meta = {
        "kind": "tnn",
        "name": net.sym_name.data,
        "chip": chip.name,
        "mesh": list(chip.mesh),
        "columns": len(cols),
        "time_bits": net.time_bits.value.data,
        "weight_bits": net.weight_bits.value.data,
        "stdp": [int(v) for v in to_numpy(net.stdp)],
        "stdp_cases": list(STDP_CASES),
        "stabilise": net.stabilise.value.data,
        "seed": net.seed.value.data,
        "encoder": {
            "kind": enc.kind.data,
            "fields": enc.fields.value.data,
            "znorm": enc.znorm.value.data,
            "input_shape": list(enc.input.type.get_shape()[1:]),  # type: ignore[attr-defined]
        },
    }

    def offsets(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([[0], np.cumsum([len(v) for v in parts])]).astype(np.int64)

    ca = col_arrays
    arrays = {
        "CORE": {"x": np.array([c.x.value.data for c in cols], np.int32),  # type: ignore[union-attr]
                 "y": np.array([c.y.value.data for c in cols], np.int32)},  # type: ignore[union-attr]
        "ENC ": {"lo": np.asarray(to_numpy(enc.lo), np.float64), "hi": np.asarray(to_numpy(enc.hi), np.float64),
                 "projection": proj},
        "COL ": {
            "p": np.array(ca["p"], np.int32), "q": np.array(ca["q"], np.int32), "k": np.array(ca["k"], np.int32),
            "response": np.array(ca["response"], np.uint8), "index": np.array(ca["index"], np.int32),
            "state": np.array(ca["state"], np.int64),
            "src_offsets": offsets(ca["src_kind"]), "src_kind": np.concatenate(ca["src_kind"]),
            "src_index": np.concatenate(ca["src_index"]),
            "w_offsets": offsets(ca["weight"]), "weight": np.concatenate(ca["weight"]), "theta": np.concatenate(ca["theta"]),
        },
        "ROUT": {"offsets": offsets(ca["dest"]), "dest": np.concatenate(ca["dest"]).astype(np.int32)},
        "OUT ": {"lines": out_lines},
    }  # fmt: skip
    return ChipImage(meta, arrays, bytes.fromhex(chip.digest))
