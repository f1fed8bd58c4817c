"""A zoo of the ordinary PyTorch models people bring, trained on sklearn digits in seconds.

Each entry builds a float model, trains it (seeded) and writes it the way its
users save it (.pt pickle, .pt2 export, TorchScript, a snnTorch pickle, a NIR
file). `COMPILES` are expected to compile and stay within 2 points of float on
the chip simulator; `REFUSED` to be refused by one line naming the layer, the
reason and what to do instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
from train_digits import digits_split, train_ann  # noqa: E402


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def relu6_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 96), nn.ReLU6(), nn.Linear(96, 64), nn.ReLU6(), nn.Linear(64, 10))


def hardtanh_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.Hardtanh(0, 1), nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.Hardtanh(0, 1), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


def global_pool_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 24, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10),
    )  # fmt: skip


def stem_cnn() -> nn.Module:
    """A ResNet-style stem: 3x3 max pool, stride 2, padding 1, after the ReLU; Dropout2d and Identity."""
    return nn.Sequential(
        nn.Conv2d(1, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), nn.Dropout2d(0.1), nn.Identity(),
        nn.Flatten(), nn.Linear(192, 10),
    )  # fmt: skip


class Residual(nn.Module):
    """A residual block with functional ReLUs, a global mean and a view: a custom class (export it)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 12, 3, padding=1)
        self.a = nn.Conv2d(12, 12, 3, padding=1)
        self.b = nn.Conv2d(12, 12, 3, padding=1)
        self.head = nn.Linear(12 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        h = F.relu(self.b(F.relu(self.a(h))) + h)
        h = F.max_pool2d(h, 2)
        h = F.adaptive_avg_pool2d(h, 2)
        return self.head(h.view(h.size(0), -1))


class ResidualDigits(nn.Module):
    """The mapping issue's held-out shape: a 16-channel stem and one residual block on 8x8 digits,
    average pooling, a classifier (axons bind on every core; tests/test_conv_mapping.py, benchmarks/mapping.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.a = nn.Conv2d(16, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 16, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(16 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        r = torch.relu(self.b(torch.relu(self.a(h))) + h)
        return self.fc(self.pool(r).flatten(1))


class Functional(nn.Module):
    """clamp / relu6 / mean written as functions."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 24, 3, padding=1)
        self.fc = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.clamp(self.c1(x), 0, 4)
        h = F.relu6(self.c2(F.avg_pool2d(h, 2)))
        return self.fc(h.mean((2, 3)))


def conv1d_net() -> nn.Module:
    """Time-series style: the 8 rows of a digit as 8 channels over 8 steps."""
    return nn.Sequential(
        nn.Conv1d(8, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(16, 24, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1),
        nn.Flatten(), nn.Linear(24, 10),
    )  # fmt: skip


def unflatten_net() -> nn.Module:
    """Flat 64-feature input reshaped into an image inside the model."""
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 10))


def mobilenet_block() -> nn.Module:
    """MobileNetV2-style: a stem, a depthwise 3x3 (groups = channels) with BatchNorm and ReLU6, a pointwise
    1x1, a grouped 3x3 (groups=2), then pooling and a classifier."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 24, 1), nn.ReLU(),
        nn.Conv2d(24, 24, 3, padding=1, groups=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(24 * 16, 10),
    )  # fmt: skip


class Inception(nn.Module):
    """Inception-style: 1x1, 3x3 and pooled-1x1 branches joined by torch.cat on channels, then a conv over the join."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.b1, self.b3, self.bp = nn.Conv2d(8, 6, 1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 4, 1)
        self.mix = nn.Conv2d(18, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        pooled = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=True)
        h = torch.cat([F.relu(self.b1(h)), F.relu(self.b3(h)), F.relu(self.bp(pooled))], dim=1)
        h = F.max_pool2d(F.relu(self.mix(h)), 2)
        return self.fc(torch.flatten(h, 1))


@dataclass(frozen=True)
class Entry:
    build: Callable[[], nn.Module]
    save: str  # pt | pt2 | pt2-dynamic | module
    view: tuple[int, ...] = (1, 8, 8)  # per-sample input shape
    epochs: int = 40


COMPILES: dict[str, Entry] = {
    "lenet_maxpool.pt": Entry(lenet, "pt"),
    "lenet_maxpool.pt2": Entry(lenet, "pt2"),
    "relu6_mlp.pt": Entry(relu6_mlp, "pt"),
    "hardtanh01_cnn.pt": Entry(hardtanh_cnn, "pt"),
    "global_avgpool_cnn.pt": Entry(global_pool_cnn, "pt", epochs=80),
    "maxpool_stem_cnn.pt": Entry(stem_cnn, "pt"),
    "residual.pt2": Entry(Residual, "pt2"),
    "residual_module": Entry(Residual, "module"),
    "residual_dynamic_batch.pt2": Entry(Residual, "pt2-dynamic"),  # x.view(x.size(0), -1) on a symbolic batch
    "functional.pt2": Entry(Functional, "pt2"),
    "functional_module": Entry(Functional, "module"),
    "conv1d_timeseries.pt": Entry(conv1d_net, "pt", view=(8, 8)),
    "unflatten.pt": Entry(unflatten_net, "pt", view=(64,)),
    "mobilenet_block.pt2": Entry(mobilenet_block, "pt2"),  # (the in-memory module: test_zoo's depthwise test)
    "inception_cat.pt2": Entry(Inception, "pt2"),  # torch.cat of three branches on channels
    "inception_cat_module": Entry(Inception, "module"),
}


def data(view: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xtr, xte, ytr, yte = digits_split()
    return xtr.reshape(-1, *view), xte.reshape(-1, *view), ytr, yte


def trained(entry: Entry) -> nn.Module:
    xtr, _, ytr, _ = data(entry.view)
    torch.manual_seed(0)
    return train_ann(entry.build(), xtr, ytr, epochs=entry.epochs)


def write(model: nn.Module, path: Path, save: str, view: tuple[int, ...]) -> Path | nn.Module:
    """The model as its users hand it over: a file, or the module itself."""
    if save == "pt":
        torch.save(model, path)
    elif save in ("pt2", "pt2-dynamic"):  # pt2-dynamic: exported with a symbolic batch dimension
        example = torch.zeros(2, *view)
        dynamic = {"x": {0: torch.export.Dim("batch")}} if save == "pt2-dynamic" else None
        torch.export.save(torch.export.export(model.eval(), (example,), dynamic_shapes=dynamic), path)
    elif save == "torchscript":
        torch.jit.script(model).save(str(path))
    else:
        return model
    return path
