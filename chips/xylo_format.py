"""The Xylo configuration file (`--target xylo`): its format, and the device's numbers as the preset states them.

SynSense Xylo (the SYNS61300-class SNN core) as `xylosim.v1` computes it (docs/xylo.md): 16 input channels,
up to 1000 hidden neurons in one recurrent reservoir, up to 8 readout neurons, 8-bit signed weights with one
left shift per matrix, 16-bit saturating states, 4-bit bit-shift ("dash") decays, up to 15 spikes per input
channel and tick, 31 per hidden neuron, 1 per readout neuron, two synaptic currents per hidden neuron.

The file is JSON (`format` "nmc-xylo", `version` 1): the matrices as nested integer lists, per-neuron
thresholds and dashes, the shifts, aliases (none from nmc), the tick length and the latency (ticks by which
the readout lags the model: its output window starts there). `check_config` refuses anything malformed or
outside the device in one line naming the field, the limit and the value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmc.chips.description import load_preset
from nmc.chips.errors import NmcError

FORMAT, VERSION = "nmc-xylo", 1
DEVICE = load_preset("xylo").xylo  # the device's numbers: chips/xylo.chip is their one copy
assert DEVICE is not None
MAX_INPUTS, MAX_HIDDEN, MAX_OUTPUTS = DEVICE["inputs"], DEVICE["hidden"], DEVICE["outputs"]
WEIGHT_BITS, STATE_BITS, DASH_BITS = DEVICE["weight_bits"], DEVICE["state_bits"], DEVICE["dash_bits"]
MAX_SHIFT = DEVICE["max_weight_shift"]
MAX_INPUT_SPIKES, MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES = DEVICE["input_spikes"], DEVICE["hidden_spikes"], DEVICE["output_spikes"]
HIDDEN_SYNAPSES = DEVICE["hidden_synapses"]
W_MAX = (1 << (WEIGHT_BITS - 1)) - 1  # 127 (nmc writes a symmetric range)
STATE_MIN, STATE_MAX = -(1 << (STATE_BITS - 1)), (1 << (STATE_BITS - 1)) - 1
DASH_MAX = (1 << DASH_BITS) - 1


@dataclass
class XyloConfig:
    """One network for Xylo: integer arrays in the device's layout (w_in [in, hidden, 2], w_rec [hidden, hidden, 2],
    w_out [hidden, out])."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    shift_in: int
    shift_rec: int
    shift_out: int
    threshold: np.ndarray
    threshold_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_syn2: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    dt: float = 1e-3
    latency: int = 1  # the readout's spikes of tick t + latency are the model's output of tick t
    name: str = "network"

    @property
    def shape(self) -> tuple[int, int, int]:
        return int(self.w_in.shape[0]), int(self.w_in.shape[1]), int(self.w_out.shape[1])

    def to_json(self) -> str:
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": self.name, "shape": list(self.shape),
                             "dt": self.dt, "latency": self.latency, "aliases": [[] for _ in range(self.shape[1])]}  # fmt: skip
        for key in ("shift_in", "shift_rec", "shift_out"):
            d[key] = int(getattr(self, key))
        for key in ("w_in", "w_rec", "w_out", "threshold", "threshold_out", "dash_mem", "dash_syn", "dash_syn2",
                    "dash_mem_out", "dash_syn_out"):  # fmt: skip
            d[key] = np.asarray(getattr(self, key)).astype(int).tolist()
        return json.dumps(d, separators=(",", ":")) + "\n"  # format and version first: is_config reads the head


def _array(d: dict, key: str, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    try:
        a = np.asarray(d[key], dtype=np.int64)
    except KeyError:
        raise NmcError(f"Xylo configuration: '{key}' is missing") from None
    except (TypeError, ValueError, OverflowError):
        raise NmcError(f"Xylo configuration: '{key}' must be integers, got {str(d[key])[:60]}") from None
    if a.shape != shape:
        raise NmcError(f"Xylo configuration: '{key}' has shape {list(a.shape)}, expected {list(shape)}")
    if a.size and (a.min() < lo or a.max() > hi):
        bad = int(a.min() if a.min() < lo else a.max())
        raise NmcError(f"Xylo configuration: '{key}' holds {bad}, outside the device's [{lo}, {hi}]")
    return a


def _int(d: dict, key: str, lo: int, hi: int) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise NmcError(f"Xylo configuration: '{key}' must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def check_config(d: Any) -> XyloConfig:
    """The configuration of a parsed file, every field checked against the device (one line per refusal)."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise NmcError(f'not a Xylo configuration (expected a JSON object with "format": "{FORMAT}")')
    if d.get("version") != VERSION:
        raise NmcError(f"Xylo configuration version {d.get('version')!r}; this nmc reads version {VERSION}")
    shape = d.get("shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)):
        raise NmcError(f"Xylo configuration: 'shape' must be [inputs, hidden, outputs], got {shape!r}")
    n_in, n_hid, n_out = shape
    for what, n, most in (("inputs", n_in, MAX_INPUTS), ("hidden neurons", n_hid, MAX_HIDDEN), ("outputs", n_out, MAX_OUTPUTS)):
        if not 1 <= n <= most:
            raise NmcError(f"Xylo configuration: {n} {what}; the device has 1 to {most}")
    w_lo = -(1 << (WEIGHT_BITS - 1))
    dt = d.get("dt")
    if isinstance(dt, bool) or not isinstance(dt, int | float) or not 0 < dt < 1e3:
        raise NmcError(f"Xylo configuration: 'dt' must be a positive number of seconds, got {dt!r}")
    aliases = d.get("aliases")
    if not isinstance(aliases, list) or len(aliases) != n_hid or any(a != [] for a in aliases):
        raise NmcError("Xylo configuration: 'aliases' must list one empty alias list per hidden neuron (nmc writes none)")
    return XyloConfig(
        w_in=_array(d, "w_in", (n_in, n_hid, HIDDEN_SYNAPSES), w_lo, W_MAX),
        w_rec=_array(d, "w_rec", (n_hid, n_hid, HIDDEN_SYNAPSES), w_lo, W_MAX),
        w_out=_array(d, "w_out", (n_hid, n_out), w_lo, W_MAX),
        shift_in=_int(d, "shift_in", 0, MAX_SHIFT),
        shift_rec=_int(d, "shift_rec", 0, MAX_SHIFT),
        shift_out=_int(d, "shift_out", 0, MAX_SHIFT),
        threshold=_array(d, "threshold", (n_hid,), 1, STATE_MAX),
        threshold_out=_array(d, "threshold_out", (n_out,), 1, STATE_MAX),
        dash_mem=_array(d, "dash_mem", (n_hid,), 0, DASH_MAX),
        dash_syn=_array(d, "dash_syn", (n_hid,), 0, DASH_MAX),
        dash_syn2=_array(d, "dash_syn2", (n_hid,), 0, DASH_MAX),
        dash_mem_out=_array(d, "dash_mem_out", (n_out,), 0, DASH_MAX),
        dash_syn_out=_array(d, "dash_syn_out", (n_out,), 0, DASH_MAX),
        dt=float(dt),
        latency=_int(d, "latency", 0, 1 << 16),
        name=str(d.get("name", "network")),
    )


def read_config(data: bytes | str, source: str = "Xylo configuration") -> XyloConfig:
    """A configuration from its file's bytes (or text)."""
    try:
        d = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise NmcError(f"{source}: not a Xylo configuration (not JSON: {str(e)[:80]})") from None
    try:
        return check_config(d)
    except NmcError as e:
        raise NmcError(f"{source}: {e}") from None


def is_config(data: bytes) -> bool:
    """Whether a file's first bytes look like a Xylo configuration (a JSON object naming this format)."""
    head = data[:4096].lstrip()
    return head.startswith(b"{") and FORMAT.encode() in head
