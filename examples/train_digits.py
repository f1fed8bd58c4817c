"""Train the bundled example models on sklearn digits (deterministic, ~20 s on 2 cores).

Writes into examples/:
  digits_mlp.pt       ReLU MLP 64-128-10 (torch.save of an nn.Sequential)
  digits_cnn.pt       small ReLU CNN (conv 8 / avgpool / conv 16 / avgpool / linear)
  digits_cnn.pt2      the same CNN as a torch.export archive
  digits_snn.pt       an SNN of nmc.nn LIF neurons trained with surrogate gradients
  digits_calib.npy    300 training images [N, 1, 8, 8] in [0, 1] for threshold balancing
  digits_test.npy / digits_test_labels.npy   the held-out test split
  digits_train.npz    the training split (x, y) for `nmc-compile --finetune`
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from nmc import nn as nmc_nn

HERE = Path(__file__).parent


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def snn(ticks: int = 16) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 96), nmc_nn.LIF(beta=0.9), nn.Linear(96, 10), nmc_nn.LIF(beta=0.9))


def train_ann(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 150) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def train_snn(model: nn.Module, x: np.ndarray, y: np.ndarray, ticks: int = 16, epochs: int = 30) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            counts = nmc_nn.run(model, xt[idx], ticks).sum(0)
            nn.functional.cross_entropy(counts, yt[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(logits: torch.Tensor | np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(1) == y).mean())


def main() -> None:
    torch.manual_seed(0)
    xtr, xte, ytr, yte = digits_split()
    m = train_ann(mlp(), xtr, ytr)
    torch.manual_seed(0)
    c = train_ann(cnn(), xtr, ytr)
    torch.manual_seed(0)
    s = train_snn(snn(), xtr, ytr)
    with torch.no_grad():
        xt = torch.from_numpy(xte)
        print(
            f"mlp {accuracy(m(xt), yte):.4f}  cnn {accuracy(c(xt), yte):.4f}  "
            f"snn {accuracy(nmc_nn.run(s, xt, 16).sum(0), yte):.4f}"
        )
    torch.save(m, HERE / "digits_mlp.pt")
    torch.save(c, HERE / "digits_cnn.pt")
    torch.save(s, HERE / "digits_snn.pt")
    batch = {"input": {0: torch.export.Dim("batch")}}
    exported = torch.export.export(c, (torch.from_numpy(xtr[:2]),), dynamic_shapes=batch)
    torch.export.save(exported, HERE / "digits_cnn.pt2")
    np.save(HERE / "digits_calib.npy", xtr[:300])
    np.save(HERE / "digits_test.npy", xte)
    np.savez_compressed(HERE / "digits_train.npz", x=xtr, y=ytr.astype(np.int64))
    np.save(HERE / "digits_test_labels.npy", yte.astype(np.int64))


if __name__ == "__main__":
    main()
