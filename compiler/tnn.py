"""Temporal neural networks in PyTorch (TNNGen): spike-time columns, k-WTA, online STDP.

`TNN` holds an encoder (latency or Gaussian receptive fields, optional sparse random
projection) and a stack of `TNNLayer`s; a layer is C identical columns of p synapses x q
neurons over receptive fields of the previous layer's lines. Everything follows
docs/tnn.md, which `nmc.runtime.tnn_ref` states tick by tick; this module computes the same
spike times for a whole batch at once: the RNL potential at tick tau is
sum_{v=1..wmax} (W >= v) . [x <= tau + 1 - v] (a ramp of height w is w unit steps, each
starting one tick later), one matmul per weight level — float32 is exact, every count is
below 2^24. STDP uses the chip's random source (`nmc.chips.tnn_format`), so learning on the
chip reproduces `fit` weight for weight. `torch.save(model)` is an `nmc-compile` input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from nmc.chips import Chip, load_chip
from nmc.chips.kinds import kind_named
from nmc.chips.tnn_format import (
    DEFAULT_PROBABILITIES,
    MASK32,
    PROB_BITS,
    PROB_ONE,
    RESPONSES,
    STDP_CASES,
    column_state,
    no_spike,
    stabiliser_tables,
    synapse_constants,
    wmax,
)
from nmc.dialects.tnn import column_limits
from nmc.errors import NmcError
from nmc.runtime.tnn_encode import Encoder, encode, fit_encoder

DEFAULT_THRESHOLD_FRACTION = 0.3  # theta = this x (mean spiking inputs per column) x wmax / 2 when not given


class TNNLayer(nn.Module):
    """C columns of p synapses x q neurons; column c reads lines `fields[c]` of the layer's input."""

    def __init__(self, fields: torch.Tensor, weight: torch.Tensor, theta: torch.Tensor, k: int = 1, response: str = "rnl"):
        super().__init__()
        if response not in RESPONSES:
            raise NmcError(f"unknown TNN response '{response}' (expected {', '.join(RESPONSES)})")
        self.register_buffer("fields", fields.long())  # (C, p)
        self.register_buffer("weight", weight.long())  # (C, q, p)
        self.register_buffer("theta", theta.long())  # (C, q)
        self.k, self.response = int(k), response

    @property
    def columns(self) -> int:
        return int(self.weight.shape[0])

    @property
    def neurons(self) -> int:
        return int(self.weight.shape[1])

    @property
    def synapses(self) -> int:
        return int(self.weight.shape[2])

    def times(self, x: torch.Tensor, time_bits: int, weight_bits: int) -> torch.Tensor:
        """Output spike times (B, C, q) after k-WTA for input times x (B, lines)."""
        none = no_spike(time_bits)
        xg = x[:, self.fields]  # (B, C, p)
        steps = torch.stack([(xg <= t) for t in range(none)]).float()  # (T, B, C, p): input spiked by tick t
        if self.response == "rnl":
            potential = torch.zeros((none, *xg.shape[:2], self.neurons), device=x.device)
            for v in range(1, wmax(weight_bits) + 1):  # the v-th unit step of a ramp starts v - 1 ticks late
                level = (self.weight >= v).float()
                potential[v - 1 :] += torch.einsum("tbcp,cqp->tbcq", steps[: none - v + 1], level)
        else:
            potential = torch.einsum("tbcp,cqp->tbcq", steps, self.weight.float())
        fired = potential >= self.theta.float()
        first = torch.where(fired.any(0), fired.float().argmax(0), torch.full_like(fired[0], none, dtype=torch.long))
        return _wta(first, self.k, none)


def _wta(y: torch.Tensor, k: int, none: int) -> torch.Tensor:
    q = y.shape[-1]
    order = torch.argsort(y * q + torch.arange(q, device=y.device), dim=-1, stable=True)
    rank = torch.argsort(order, dim=-1)
    return torch.where((rank < k) & (y < none), y, torch.full_like(y, none))


class TNN(nn.Module):
    """An encoder and a stack of column layers, with the STDP rule they learn by."""

    def __init__(self, encoder: Encoder, layers: list[TNNLayer], weight_bits: int = 3, seed: int = 0,
                 probabilities: dict[str, int] | None = None, stabilise: bool = False):  # fmt: skip
        super().__init__()
        self.time_bits, self.weight_bits, self.seed, self.stabilise = encoder.time_bits, weight_bits, seed, stabilise
        self.encoder_kind, self.fields_per_value, self.znorm = encoder.kind, encoder.fields, encoder.znorm
        self.input_shape = list(encoder.input_shape)
        self.register_buffer("lo", torch.from_numpy(encoder.lo.astype(np.float64)))
        self.register_buffer("hi", torch.from_numpy(encoder.hi.astype(np.float64)))
        proj = encoder.projection
        self.register_buffer("projection", torch.from_numpy(proj) if proj is not None else torch.zeros(0, dtype=torch.float64))
        self.layers = nn.ModuleList(layers)
        self.probabilities = {c: int((probabilities or DEFAULT_PROBABILITIES)[c]) for c in STDP_CASES}
        n = sum(layer.columns for layer in layers)
        self.register_buffer("rng_state", torch.tensor([column_state(seed, c) for c in range(n)], dtype=torch.long))

    @property
    def encoder(self) -> Encoder:
        proj = self.projection.cpu().numpy() if self.projection.numel() else None
        return Encoder(self.encoder_kind, self.time_bits, self.fields_per_value, self.lo.cpu().numpy(),
                       self.hi.cpu().numpy(), tuple(self.input_shape), proj, self.znorm)  # fmt: skip

    def encode(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(encode(self.encoder, x)).to(self.lo.device)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        """The last layer's output times (B, lines) for encoded input times (B, encoder lines)."""
        for layer in self.layers:
            times = layer.times(times, self.time_bits, self.weight_bits).flatten(1)
        return times

    @torch.no_grad()
    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        """Cluster of each sample: the earliest output line (lowest index on ties), -1 where none spiked."""
        out = torch.cat([self(self.encode(x[i : i + batch])) for i in range(0, len(x), batch)])
        none = no_spike(self.time_bits)
        return torch.where(out.min(1).values < none, out.argmin(1), -1).cpu().numpy()

    @torch.no_grad()
    def learn(self, times: torch.Tensor) -> torch.Tensor:
        """Run samples in order with STDP after each (the chip's online learning); their output times."""
        rule = _StdpTables(self)
        outs = []
        for n in range(times.shape[0]):
            x, col0 = times[n : n + 1], 0
            for li, layer in enumerate(self.layers):
                y = layer.times(x, self.time_bits, self.weight_bits)  # (1, C, q)
                rule.update(li, x[0, layer.fields], y[0], col0)
                col0 += layer.columns
                x = y.flatten(1)
            outs.append(x)
        return torch.cat(outs)


class _StdpTables:
    """Per-column random constants and stabiliser tables on the model's device."""

    def __init__(self, model: TNN):
        dev = model.lo.device
        self.model, self.none, self.wmax = model, no_spike(model.time_bits), wmax(model.weight_bits)
        self.u = model.probabilities
        up, down = stabiliser_tables(model.weight_bits)
        self.up, self.down = torch.tensor(up, device=dev), torch.tensor(down, device=dev)
        self.constants = []
        col = 0
        for layer in model.layers:
            size = layer.neurons * layer.synapses
            c = [synapse_constants(model.seed, col + i, size).astype(np.int64) for i in range(layer.columns)]
            self.constants.append(torch.from_numpy(np.stack(c)).to(dev).view(layer.columns, layer.neurons, layer.synapses))
            col += layer.columns

    def update(self, li: int, x: torch.Tensor, y: torch.Tensor, col0: int) -> None:
        """Layer li: x (C, p) input times, y (C, q) output times after WTA; weights and random states in place."""
        model = self.model
        layer = model.layers[li]
        s = model.rng_state[col0 : col0 + layer.columns]
        s ^= (s << 13) & MASK32  # xorshift32, as nmc.chips.tnn_format.xorshift32
        s ^= s >> 17
        s ^= (s << 5) & MASK32
        v = s[:, None, None] ^ self.constants[li]
        r_case, r_stab = v & (PROB_ONE - 1), (v >> PROB_BITS) & (PROB_ONE - 1)
        xi, yj = x[:, None, :], y[:, :, None]
        fin, fout = xi < self.none, yj < self.none
        u = self.u
        inc = (fin & fout & (xi <= yj) & (r_case < u["capture"])) | (fin & ~fout & (r_case < u["search"]))
        dec = (fin & fout & (xi > yj) & (r_case < u["minus"])) | (~fin & fout & (r_case < u["backoff"]))
        w = layer.weight
        if model.stabilise:
            inc &= r_stab < self.up[w]
            dec &= r_stab < self.down[w]
        layer.weight.copy_((w + inc.long() - dec.long()).clamp(0, self.wmax))


DEFAULT_CHIP = kind_named("tnn_column").default_chip  # the TNN column kind's preset (nmc.chips.kinds)
DEFAULT_FIELDS = 8  # Gaussian fields per value: a free choice of the rule, tested in benchmarks/tnn_defaults.py
DEFAULT_REDUCTION = "mixed"
# series of several channels: more fields per value, each channel averaged in segments, a higher threshold (the
# rule's choice for multichannel sets, made leave-one-dataset-out as for one channel: benchmarks/tnn_defaults.py)
MULTICHANNEL_FIELDS, MULTICHANNEL_REDUCTION, MULTICHANNEL_THRESHOLD_FRACTION = 16, "paa", 0.4


def default_design(shape: tuple[int, ...], column: dict[str, Any], fields: int | None = None,
                   reduce: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The encoder a series of `shape` (length,) or (channels, length) gets on a column kind by default (docs/tnn.md).

    Time bits: the column's largest (finer spike times cost nothing on the chip). One channel: 8 fields per value,
    and a sample of more values than the column has synapses for (synapses // fields) is reduced to that many: half
    PAA segment means, half sparse random projections (mixed), theta fraction 0.3. Several channels: 16 fields per
    value, PAA segments per channel, theta fraction 0.4. Fewer fields only when a column has fewer synapses; where
    there are too many channels for one PAA segment each, projections alone. So the encoded lines never exceed
    the column's synapses and every default model compiles for its chip.
    """
    channels = 1 if len(shape) < 2 else int(shape[0])
    multi = channels > 1
    fields = min(fields or (MULTICHANNEL_FIELDS if multi else DEFAULT_FIELDS), int(column["synapses"]))
    budget = int(column["synapses"]) // fields
    width = int(np.prod(shape))
    project, how = None, reduce or (MULTICHANNEL_REDUCTION if multi else DEFAULT_REDUCTION)
    if width > budget:
        project = budget
        if reduce is None and (budget if how == "paa" else budget // 2) < channels:
            how = "sparse"
    fraction = MULTICHANNEL_THRESHOLD_FRACTION if multi else DEFAULT_THRESHOLD_FRACTION
    return {"time_bits": int(column["time_bits"]), "fields": fields, "project": project, "reduce": how,
            "threshold_fraction": fraction}  # fmt: skip


def _column(chip: Chip | str | None) -> tuple[Chip, dict[str, Any]]:
    the_chip = chip if isinstance(chip, Chip) else load_chip(chip or DEFAULT_CHIP)
    if the_chip.tnn_column is None:
        raise NmcError(f"chip '{the_chip.name}' has no tnn_column core kind, so it cannot run a TNN: use one with it, e.g. tnn16")
    return the_chip, the_chip.tnn_column


def build(
    x: np.ndarray, clusters: int, *, chip: Chip | str | None = None, time_bits: int | None = None, weight_bits: int = 3,
    encoder: str = "grf", fields: int | None = None, project: int | None = None, threshold: int | None = None, k: int = 1,
    response: str = "rnl", seed: int = 0, stabilise: bool = False, probabilities: dict[str, int] | None = None,
    reduce: str | None = None, threshold_fraction: float | None = None,
) -> TNN:  # fmt: skip
    """A one-column TNN for clustering `x` into `clusters` (q = clusters neurons, p = every encoded line) on `chip`.

    What is not given follows `default_design` for the chip's column (default the tnn16 preset), and the
    column is checked against the chip before any learning, so a fitted model always compiles for it.
    Weights start uniform in 0..wmax (seeded); theta defaults to the rule's fraction (0.3, several channels 0.4)
    x the mean number of lines that spike per sample x wmax / 2, so that a neuron fires once its strongest inputs
    arrive.
    """
    the_chip, column = _column(chip)
    if clusters < 2:
        raise NmcError(f"--clusters must be at least 2, got {clusters}")
    shape = tuple(np.shape(x)[1:])
    rule = default_design(shape, column, 1 if encoder == "latency" else fields, reduce)
    time_bits = rule["time_bits"] if time_bits is None else time_bits
    project = rule["project"] if project is None else project
    fields, reduce = rule["fields"], rule["reduce"]
    threshold_fraction = rule["threshold_fraction"] if threshold_fraction is None else threshold_fraction
    if not 1 <= time_bits <= 8 or not 1 <= weight_bits <= 8:
        raise NmcError(f"time bits and weight bits must be in 1..8, got {time_bits} and {weight_bits}")
    if not 1 <= k <= clusters:
        raise NmcError(f"k-WTA k must be in 1..{clusters} (the neurons of the column), got {k}")
    enc = fit_encoder(x, encoder, time_bits, fields, project, True, seed, reduce)
    times = encode(enc, x)
    p = times.shape[1]
    rng = np.random.default_rng(seed)
    weight = rng.integers(0, wmax(weight_bits) + 1, size=(1, clusters, p))
    if threshold is None:
        spiking = float((times < no_spike(time_bits)).sum(1).mean())
        threshold = max(1, round(threshold_fraction * spiking * wmax(weight_bits) / 2))
    problems = column_limits("layer0", p, clusters, k, response, int(threshold), the_chip)
    for key, value in (("time_bits", time_bits), ("weight_bits", weight_bits)):
        if value > column[key]:
            problems.append(f"{key} {value}, chip '{the_chip.name}' tnn_column.{key} is {column[key]}")
    if problems:
        raise NmcError(f"{problems[0]} (the TNN is fitted for chip '{the_chip.name}': give --chip for another, or leave "
                       "--fields/--project/--time-bits to the defaults, which fit the chip)")  # fmt: skip
    layer = TNNLayer(torch.arange(p)[None], torch.from_numpy(weight), torch.full((1, clusters), int(threshold)), k, response)
    return TNN(enc, [layer], weight_bits, seed, probabilities, stabilise)


def fit(model: TNN, x: np.ndarray, epochs: int = 5, seed: int = 0, device: str = "cpu",
        progress: Callable[[int, int], None] | None = None) -> TNN:  # fmt: skip
    """Unsupervised STDP over `x` for `epochs` passes, samples in a seeded order; the model in place (on CPU)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise NmcError("--device cuda: this machine has no CUDA device (torch.cuda.is_available() is False); use --device cpu")
    if epochs < 0:
        raise NmcError(f"--epochs must be >= 0, got {epochs}")
    model.to(device)
    times = model.encode(x)
    order_rng = np.random.default_rng(seed)
    for e in range(epochs):
        order = torch.from_numpy(order_rng.permutation(len(x))).to(times.device)
        model.learn(times[order])
        if progress is not None:
            progress(e + 1, epochs)
    return model.to("cpu")


def rand_index(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Rand index: the fraction of sample pairs on which the two partitions agree (same group in both, or in neither)."""
    _, a = np.unique(labels, return_inverse=True)
    _, b = np.unique(clusters, return_inverse=True)
    table = np.zeros((a.max(initial=0) + 1, b.max(initial=0) + 1), np.int64)
    np.add.at(table, (a, b), 1)
    n = len(a)
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return 1.0
    both = int((table * (table - 1) // 2).sum())
    same_a = int((table.sum(1) * (table.sum(1) - 1) // 2).sum())
    same_b = int((table.sum(0) * (table.sum(0) - 1) // 2).sum())
    return (pairs + 2 * both - same_a - same_b) / pairs
