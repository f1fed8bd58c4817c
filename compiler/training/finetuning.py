"""`nmc.finetune` and `nmc-compile --finetune`: train a converted network into a chip's limits (NEUTRAMS).

The model is converted as nmc-compile converts it (thresholds from calibration),
then its weights, biases and thresholds are trained through the chip's own rate
model (`nmc.training.qat.RateNet`): weights, thresholds and biases rounded per neuron
exactly as reduce-precision will round them, and on a chip without partial sums
every layer wider than a core masked to core-sized diagonal blocks
(`nmc.training.fanin_blocks`). The result is the converted SNN itself, as an `nmc.nn`
module (Linear/Conv2d/AvgPool2d layers and IF neurons with the trained
thresholds), so nmc-compile lowers it with its normal passes and no calibration
guesses; it is also runnable in torch with `nmc.nn.run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips import DEFAULT_CHIP, Chip, load_chip
from nmc.chips.binary import decode
from nmc.conversion.layers import evaluate
from nmc.driver import ImportOptions, conversion_scales, layer_graph
from nmc.errors import NmcError
from nmc.options import DEFAULT_FINETUNE_EPOCHS, DEFAULT_PERCENTILE
from nmc.passes.reduce_precision import Limits
from nmc.runtime.simulator import Chip as Simulator
from nmc.training.fanin_blocks import block_diagonal


@dataclass
class Finetuned:
    """The fine-tuned SNN and what to report about it."""

    model: Any  # torch.nn.Sequential of nmc.nn neurons and torch layers
    input_scale: float
    section: dict  # report.json's "finetune" section
    holdout: tuple[np.ndarray, np.ndarray]
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    rate_net: Any = None  # the trained nmc.training.qat.RateNet (its chip_numbers() are what the chip will hold)


def load_finetune_data(path: str | Path, flag: str = "--finetune") -> tuple[np.ndarray, np.ndarray]:
    """`x` [N, *input_shape] and integer labels `y` [N] from an .npz file, checked."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise NmcError(f"{flag} {path}: not an .npz archive; save one with np.savez(path, x=inputs, y=labels)")
            missing = {"x", "y"} - set(data.files)
            if missing:
                raise NmcError(
                    f"{flag} {path}: holds {sorted(data.files)}, needs arrays 'x' (inputs) and 'y' (labels); "
                    "save it with np.savez(path, x=inputs, y=labels)"
                )
            x, y = data["x"], data["y"]
    except FileNotFoundError:
        raise NmcError(f"{flag} {path}: no such file") from None
    except (ValueError, OSError) as e:
        raise NmcError(f"{flag} {path}: not a readable .npz archive ({e})") from None
    return check_data(x, y, f"{flag} {path}")


def check_data(x: Any, y: Any, where: str = "finetune") -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise NmcError(f"{where}: x must be a real array [samples, *input_shape], got {x.dtype} of shape {list(x.shape)}")
    if not np.isfinite(x).all():
        raise NmcError(f"{where}: x holds NaN or infinite values")
    if y.ndim != 1 or len(y) != len(x):
        raise NmcError(f"{where}: y must hold one label per sample ({len(x)}), got shape {list(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer) and not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
        raise NmcError(f"{where}: y must hold integer class labels, got {y.dtype}")
    if len(x) < 10:
        raise NmcError(f"{where}: {len(x)} samples are too few to fine-tune and hold some back (need at least 10)")
    if y.min() < 0:
        raise NmcError(f"{where}: labels must be class indices >= 0, found {int(y.min())}")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def finetune(
    model: Any,
    chip: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = DEFAULT_FINETUNE_EPOCHS,
    weight_bits: int | None = None,
    encoding: str | None = None,
    input_scale: float | None = None,
    calibration: np.ndarray | None = None,
    percentile: float = DEFAULT_PERCENTILE,
    ticks: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    holdout: float = 0.2,
    lr: float = 1e-3,
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
) -> Finetuned:
    """Fine-tune `model` (a ReLU network: module, ExportedProgram or file) for `chip` on labelled data.

    A `holdout` fraction of (x, y), chosen by `seed`, is held back and only measured. Returns the
    fine-tuned SNN (`Finetuned.model`), ready for `nmc.compile` with the same encoding and
    `input_scale=Finetuned.input_scale`.
    """
    import torch

    from nmc.training.qat import Encoding, RateNet, chain_stages

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    x, y = check_data(x, y)
    if epochs < 0:
        raise NmcError(f"finetune: epochs must be >= 0, got {epochs}")
    if not 0.0 < holdout < 1.0:
        raise NmcError(f"finetune: holdout must be a fraction in (0, 1), got {holdout}")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise NmcError(f"--device must be cpu or cuda, got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise NmcError("--device cuda: this torch build sees no CUDA device; use --device cpu")
    the_chip = chip if isinstance(chip, Chip) else load_chip(chip or DEFAULT_CHIP)
    encoding = encoding or the_chip.default_encoding
    if encoding == "direct" and the_chip.core["input_bits"] < 2:  # what check-constraints would refuse after training
        raise NmcError(
            f"chip '{the_chip.name}' takes no graded inputs (core.input_bits={the_chip.core['input_bits']}): "
            "fine-tune and compile with --encoding rate or poisson"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    n_hold = max(1, round(holdout * len(x)))
    hold, train = order[:n_hold], order[n_hold:]
    x_train, y_train, x_hold, y_hold = x[train], y[train], x[hold], y[hold]
    calib = calibration if calibration is not None else x_train[:500]
    opts = ImportOptions(
        ticks=ticks,
        encoding=encoding,
        input_scale=input_scale,
        calibration=calib,
        percentile=percentile,
        input_shape=tuple(x.shape[1:]),
    )
    say("fine-tuning: converting the model")
    graph = layer_graph(model, opts)
    scale, relu_index_scales = conversion_scales(graph, opts)
    relu_scales = {graph.layers[i].name: lam for i, lam in (relu_index_scales or {}).items()}
    stages = chain_stages(graph)
    several = [st.relu.name for st in stages if st.relu is not None and st.relu.params.get("max_spikes", 1) > 1]
    if several:
        raise NmcError(f"layer '{several[0]}': several spikes per tick (max_spikes); fine-tuning trains neurons that "
                       "spike once per tick: fine-tune it in torch (nmc.nn) instead")  # fmt: skip
    limits = Limits.of(the_chip, weight_bits)
    constraints = [f"weights of {int(np.log2(limits.w_max + 1)) + 1} bits, thresholds and biases in the chip's widths"]
    blocks = _fan_in_blocks(stages, the_chip, seed)
    constraints += blocks
    torch.manual_seed(seed)
    if graph.is_spiking:  # an nmc.nn SNN: backpropagation through its ticks on the chip's numbers
        from nmc.training.qat_snn import SpikingNet

        net = SpikingNet(stages, Encoding(encoding, scale), limits, opts.ticks, the_chip.core)
        relu_scales = {st.relu.name: float(st.relu.params["threshold"]) for st in stages if st.relu is not None}
        with torch.no_grad():
            float_acc = _accuracy(net(torch.as_tensor(x_hold), quantized=False).numpy(), y_hold)
        net = net.to(device)
    else:
        float_acc = _accuracy(evaluate(graph, x_hold, watch="")[0][0], y_hold)
        net = RateNet(stages, relu_scales, Encoding(encoding, scale), limits).to(device)
    xt = torch.as_tensor(x_train, device=device)
    yt = torch.as_tensor(y_train, device=device)
    xh = torch.as_tensor(x_hold, device=device)
    before = _net_accuracy(net, xh, y_hold)
    say(f"fine-tuning: held-back accuracy {before:.2%} on the chip's rate model before training (float {float_acc:.2%})")
    # thresholds (tens of units) move at the weights' relative pace
    lam_lr = lr * float(np.mean(list(relu_scales.values()))) if relu_scales else lr
    opt = torch.optim.Adam(
        [
            {"params": [*net.weights.parameters(), *net.biases.parameters()], "lr": lr},
            {"params": list(net.thresholds.parameters()), "lr": lam_lr},
        ]
    )
    g = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        net.train()
        total, count = 0.0, 0
        for idx in torch.randperm(len(xt), generator=g).split(batch_size):
            idx = idx.to(device)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        acc = _net_accuracy(net, xh, y_hold)
        history.append({"epoch": epoch, "loss": round(total / max(count, 1), 6), "holdout_accuracy": round(acc, 6)})
        say(f"fine-tuning: epoch {epoch}/{epochs}, loss {total / max(count, 1):.4f}, held-back accuracy {acc:.2%}")
    after = _net_accuracy(net, xh, y_hold)
    from nmc.conversion.snn_export import snn_module

    snn = snn_module(net, opts.ticks if graph.is_spiking else ticks)
    section = {
        "samples": {"train": len(train), "held_back": int(n_hold)},
        "epochs": epochs,
        "seed": seed,
        "device": str(device),
        "constraints": constraints,
        "accuracy": {
            "float": round(float_acc, 6),
            "before": round(before, 6),
            "after": round(after, 6),
        },
        "accuracy_meaning": (
            "held-back slice; float = the original model (an SNN: in float, for as many ticks); before/after = the "
            "chip's model (quantized, masked) with the original / fine-tuned weights; chip = the binary on the simulator"
        ),
        "thresholds": {ly.name: round(float(net.threshold(st).detach()), 6) for st in stages if (ly := st.relu) is not None},
    }
    return Finetuned(snn, scale, section, (x_hold, y_hold), time.perf_counter() - started, history, net)


def _fan_in_blocks(stages: list, chip: Any, seed: int) -> list[str]:
    """On a chip without partial sums, mask each wider-than-a-core linear stage to diagonal blocks."""

    if chip.core["partial_sums"]:
        return []
    limit = min(int(chip.core["max_fan_in"]), int(chip.core["axons"]))
    notes = []
    for k, st in enumerate(stages):
        n_in = int(np.prod(st.in_shape))
        if n_in <= limit:
            continue
        layer = st.weight_ops[-1] if st.weight_ops else None
        if not st.plain_linear or layer is None:
            name = layer.name if layer is not None else (st.relu.name if st.relu is not None else "output")
            raise NmcError(
                f"fine-tuning: layer '{name}' reads {n_in} inputs, more than {chip.name}'s {limit} per neuron without "
                "partial sums, and only fully connected layers can be split into core-sized blocks; "
                "use a chip with partial sums, or fewer channels"
            )
        b = block_diagonal(layer.params["weight"], limit, seed=seed)
        st.mask = b.mask
        following = stages[k + 1] if k + 1 < len(stages) else None
        if st.relu is not None and following is not None and following.plain_linear:
            # Renumber the neurons block by block (and the next layer's inputs with them): the same network,
            # but each block is a run of consecutive neurons, which partition-cores packs into one core
            # (it does not see that neurons reading the same inputs share axons).
            order = np.argsort(b.out_group, kind="stable")
            st.mask = st.mask[order]
            layer.params = {**layer.params, "weight": layer.params["weight"][order]}
            if layer.params.get("bias") is not None:
                layer.params["bias"] = layer.params["bias"][order]
            nxt = following.ops[-1]
            nxt.params = {**nxt.params, "weight": nxt.params["weight"][:, order]}
        notes.append(
            f"fan-in of '{layer.name}' {n_in} > {limit}: {b.groups} diagonal blocks of <= {limit} inputs "
            f"(kept {b.kept:.1%} of |w| before training)"
        )
    return notes


def _accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(scores).reshape(len(y), -1).argmax(1) == y))


def _net_accuracy(net: Any, x: Any, y: np.ndarray, batch: int = 1024) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        scores = torch.cat([net(x[i : i + batch]) for i in range(0, len(x), batch)])
    return _accuracy(scores.cpu().numpy(), y)


def run_finetune(model: Any, chip: Any, o: Any, calibration: np.ndarray | None, progress: Callable | None) -> Finetuned:
    """What `nmc-compile --finetune` runs: the data loaded and checked, then `finetune` with the compile's options."""
    data = o.finetune
    x, y = load_finetune_data(data) if isinstance(data, str | Path) else check_data(*data)
    return finetune(
        model,
        chip,
        x,
        y,
        epochs=o.finetune_epochs,
        weight_bits=o.weight_bits,
        encoding=o.encoding,
        input_scale=o.input_scale,
        calibration=calibration,
        percentile=o.percentile,
        ticks=o.timesteps,
        device=o.device,
        seed=o.seed,
        progress=progress,
    )


def model_bytes(model: Any) -> bytes:
    """The fine-tuned SNN as a torch.save pickle that nmc-compile's safe loader accepts."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(model, buf)
    return buf.getvalue()


def chip_accuracy(binary: bytes, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Accuracy of the compiled binary on the chip simulator."""

    sim = Simulator(decode(binary))
    scores = np.concatenate([sim.run(x[i : i + batch]).outputs[0] for i in range(0, len(x), batch)])
    return round(_accuracy(scores, y), 6)
