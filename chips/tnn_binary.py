"""The TNN kind of chip binary (docs/binary-format.md, "TNN binaries"): its sections and their checks.

Same framing as every nmc binary (magic, version, chip hash, sections, CRC); the sections are
META (JSON, `"kind": "tnn"`), CORE (x, y of each column's core), ENC (the encoder's lo, hi,
projection), COL (per column: p, q, k, response, random index and state; CSR arrays of its
synapse sources, weights q x p row-major, thresholds), ROUT (destination cores per column) and
OUT (the output lines). A source line is (kind, index): kind 0 = encoder line, 1 = output line
`index` of the network's column lines (columns' outputs side by side in column order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from nmc.chips.binary_error import BinaryError
from nmc.chips.binary_schema import check_common_meta
from nmc.chips.kinds import BinaryFacet
from nmc.chips.tnn_format import RESPONSES, STDP_CASES, no_spike, wmax

TNN_SECTIONS = ("META", "CORE", "ENC ", "COL ", "ROUT", "OUT ")
COL_ARRAYS = ("p", "q", "k", "response", "index", "state", "src_offsets", "src_kind", "src_index", "w_offsets", "weight", "theta")


def _error(message: str) -> Exception:
    return BinaryError(message)


def _ints(meta: dict, key: str, low: int, high: int) -> int:
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise _error(f"META.{key} must be an integer in [{low}, {high}], got {v!r}")
    return v


def validate_tnn(image: Any) -> None:
    """Every index, width and size of a TNN image, so the simulator can trust it."""
    check_common_meta(image.meta)
    m, a = image.meta, image.arrays
    b, bw = _ints(m, "time_bits", 1, 8), _ints(m, "weight_bits", 1, 8)
    n = _ints(m, "columns", 1, 1 << 20)
    enc = m.get("encoder")
    if not isinstance(enc, dict) or enc.get("kind") not in ("grf", "latency") or not isinstance(enc.get("input_shape"), list):
        raise _error("META.encoder must give kind (grf or latency), fields, znorm and input_shape")
    _ints(enc, "fields", 1, 1 << 12)
    shape = enc["input_shape"]
    if not 1 <= len(shape) <= 2 or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 1 << 24 for d in shape):
        raise _error(f"META.encoder.input_shape must be 1 or 2 positive sizes, got {shape!r}")
    _ints(enc, "znorm", 0, 1)
    _ints(m, "seed", 0, (1 << 63) - 1)
    _ints(m, "stabilise", 0, 1)
    if m.get("stdp_cases") != list(STDP_CASES):
        raise _error(f"META.stdp_cases must be {list(STDP_CASES)}, got {m.get('stdp_cases')!r}")
    stdp = m.get("stdp")
    if not (isinstance(stdp, list) and len(stdp) == len(STDP_CASES) and all(isinstance(u, int) and 0 <= u <= 1024 for u in stdp)):
        raise _error(f"META.stdp must be {len(STDP_CASES)} probabilities in 0..1024, got {stdp!r}")
    for tag, names in (
        ("CORE", ("x", "y")),
        ("ENC ", ("lo", "hi", "projection")),
        ("COL ", COL_ARRAYS),
        ("ROUT", ("offsets", "dest")),
        ("OUT ", ("lines",)),
    ):
        for name in names:
            if name not in a.get(tag, {}):
                raise _error(f"section {tag.strip()} lacks the array '{name}'")
    col = a["COL "]
    for name in COL_ARRAYS:
        if col[name].ndim != 1 or col[name].dtype.kind not in "iu":
            raise _error(f"COL.{name} must be a 1-D integer array, got {col[name].ndim}-D {col[name].dtype}")
    for name in ("lo", "hi", "projection"):
        if a["ENC "][name].dtype.kind != "f" or not np.isfinite(a["ENC "][name]).all():
            raise _error(f"ENC.{name} must hold finite floats")
    for name in ("p", "q", "k", "response", "index", "state"):
        if col[name].shape != (n,):
            raise _error(f"COL.{name}: {col[name].size} entries for {n} columns")
    p, q = col["p"].astype(np.int64), col["q"].astype(np.int64)
    if (p < 1).any() or (q < 1).any() or (col["k"] < 1).any() or (col["k"] > q).any():
        raise _error("COL: every column needs p >= 1, q >= 1 and 1 <= k <= q")
    if (col["response"] >= len(RESPONSES)).any() or (col["response"] < 0).any():
        raise _error(f"COL.response: codes are 0..{len(RESPONSES) - 1}")
    for off, total, size in (("src_offsets", "src_kind", p), ("w_offsets", "weight", p * q)):
        o = col[off].astype(np.int64)
        if o.shape != (n + 1,) or o[0] != 0 or (np.diff(o) != size).any() or o[-1] != col[total].size:
            raise _error(f"COL.{off}: offsets do not describe {n} columns of their sizes")
    if col["src_index"].size != col["src_kind"].size or col["theta"].size != int(q.sum()):
        raise _error("COL: src_index must match src_kind, theta must hold one threshold per neuron")
    lines_in = a["ENC "]["lo"].size * enc["fields"]
    lines_out = int(q.sum())
    kind, index = col["src_kind"], col["src_index"].astype(np.int64)
    if ((kind != 0) & (kind != 1)).any() or (index < 0).any():
        raise _error("COL.src_kind must be 0 (encoder) or 1 (column line), src_index >= 0")
    if (index[kind == 0] >= lines_in).any() or (index[kind == 1] >= lines_out).any():
        raise _error(f"COL.src_index: a synapse reads a line past the encoder's {lines_in} or the columns' {lines_out}")
    w = col["weight"]
    if w.size and (w.min() < 0 or w.max() > wmax(bw)):
        raise _error(f"COL.weight: weights must be in 0..{wmax(bw)} ({bw} bits)")
    if (col["theta"] < 0).any():
        raise _error("COL.theta: thresholds must be non-negative")
    cx, cy = a["CORE"]["x"], a["CORE"]["y"]
    mw, mh = m["mesh"]
    if cx.shape != (n,) or cy.shape != (n,) or (cx < 0).any() or (cx >= mw).any() or (cy < 0).any() or (cy >= mh).any():
        raise _error(f"CORE: {n} column cores must lie on the {mw}x{mh} mesh")
    ro = a["ROUT"]["offsets"].astype(np.int64)
    if ro.shape != (n + 1,) or ro[0] != 0 or (np.diff(ro) < 0).any() or ro[-1] != a["ROUT"]["dest"].size:
        raise _error("ROUT.offsets do not describe the columns' destination lists")
    if ((a["ROUT"]["dest"] < 0) | (a["ROUT"]["dest"] >= n)).any():
        raise _error(f"ROUT.dest: a destination outside cores 0..{n - 1}")
    out = a["OUT "]["lines"]
    if out.ndim != 1 or out.size < 1 or (out < 0).any() or (out >= lines_out).any():
        raise _error(f"OUT.lines must name column lines in 0..{lines_out - 1}")
    proj, lo = a["ENC "]["projection"], a["ENC "]["lo"]
    values = int(np.prod(shape))
    if proj.size and (proj.ndim != 2 or proj.shape != (values, lo.size)):
        raise _error(f"ENC.projection must be (input values {values}, features {lo.size}), got {list(proj.shape)}")
    if lo.ndim != 1 or a["ENC "]["hi"].shape != lo.shape or (not proj.size and lo.size != values):
        raise _error(f"ENC.lo and ENC.hi must hold one bound per feature ({values if not proj.size else proj.shape[1]})")
    del b  # the time width bounds nothing stored: times are computed


@dataclass
class ColumnView:
    """One column of a validated TNN image, sliced out of the COL arrays (the simulator and the Verilog read these)."""

    p: int
    q: int
    k: int
    response: str  # "rnl" or "snl"
    index: int  # the column's network index: its random constants
    state: int  # its xorshift state
    src_kind: np.ndarray  # (p,) 0 = encoder line, 1 = column line
    src_index: np.ndarray  # (p,) int64
    weights: np.ndarray  # (q, p) int64
    theta: np.ndarray  # (q,) int64
    first_line: int  # its first output line among the network's column lines


def column_views(image: Any) -> list[ColumnView]:
    col = image.arrays["COL "]
    so, wo = col["src_offsets"], col["w_offsets"]
    t0 = np.concatenate([[0], np.cumsum(col["q"])]).astype(np.int64)
    views = []
    for c in range(int(image.meta["columns"])):
        p, q = int(col["p"][c]), int(col["q"][c])
        views.append(
            ColumnView(
                p, q, int(col["k"][c]), RESPONSES[int(col["response"][c])], int(col["index"][c]), int(col["state"][c]),
                col["src_kind"][so[c] : so[c + 1]], col["src_index"][so[c] : so[c + 1]].astype(np.int64),
                col["weight"][wo[c] : wo[c + 1]].astype(np.int64).reshape(q, p),
                col["theta"][t0[c] : t0[c + 1]].astype(np.int64), int(t0[c]),
            )
        )  # fmt: skip
    return views


def dump_tnn(image: Any, out: IO[str]) -> None:
    m, a = image.meta, image.arrays
    col = a["COL "]
    out.write(
        f"tnn network {m['name']} chip {m['chip']} mesh {m['mesh'][0]}x{m['mesh'][1]} columns {m['columns']} "
        f"time_bits {m['time_bits']} (no spike = {no_spike(m['time_bits'])}) weight_bits {m['weight_bits']}\n"
    )
    e = m["encoder"]
    out.write(
        f"encoder {e['kind']} fields {e['fields']} znorm {e['znorm']} input {e['input_shape']} features {a['ENC ']['lo'].size}\n"
    )
    out.write(
        f"stdp {', '.join(f'{c} {u}' for c, u in zip(STDP_CASES, m['stdp'], strict=True))} "
        f"stabilise {m['stabilise']} seed {m['seed']}\n"
    )
    ro = a["ROUT"]
    for c in range(m["columns"]):
        s0, s1 = col["src_offsets"][c], col["src_offsets"][c + 1]
        kinds = {int(k) for k in col["src_kind"][s0:s1]}
        src = " + ".join(("encoder", "columns")[k] for k in sorted(kinds))
        dests = ro["dest"][ro["offsets"][c] : ro["offsets"][c + 1]]
        out.write(
            f"column {c} at ({a['CORE']['x'][c]}, {a['CORE']['y'][c]}): {col['p'][c]} x {col['q'][c]} k {col['k'][c]} "
            f"{RESPONSES[col['response'][c]]} from {src} -> cores [{', '.join(str(d) for d in dests)}]\n"
        )
    out.write(f"output lines {', '.join(str(v) for v in a['OUT ']['lines'][:16])}\n")


BINARY = BinaryFacet(TNN_SECTIONS, validate_tnn, dump_tnn)
