"""SPACE.toml: the architecture family `nmc-search` explores (docs/search.md).

A space file names the families (MLP, CNN), their shape choices, the SNN knobs
(neuron model, ticks, weight bits) and the training recipe. Lists are
categorical choices; `{ low = a, high = b }` is an integer range. The file is
checked whole before any work, each mistake one line naming the key.
`suggest` draws one candidate from an Optuna trial (define-by-run, so a
2-layer MLP has two width parameters and a 1-layer one has one), and `build`
turns a candidate into the torch module that is trained and compiled.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmc.errors import NmcError

FAMILIES = ("mlp", "cnn")
NEURONS = ("if", "lif", "cuba", "rlif", "rcuba")  # if: a ReLU ANN to convert; the rest nmc.nn SNNs
POOLS = ("avg", "none")
TRAIN_DEFAULTS = {"epochs": 20, "lr": 3e-3, "batch_size": 64, "validation": 0.25, "finetune_epochs": 0, "lif_beta": 0.9,
                  "cuba_alpha": 0.75}  # fmt: skip
_SCHEMA: dict[str, dict[str, type]] = {
    "input": {"shape": list, "image": list},
    "search": {"families": list, "neuron": list, "ticks": list, "weight_bits": list},
    "mlp": {"depth": dict, "width": list},
    "cnn": {"depth": dict, "channels": list, "kernel": list, "pool": list, "fc_width": list},
    "train": {
        "epochs": int,
        "lr": float,
        "batch_size": int,
        "validation": float,
        "finetune_epochs": int,
        "lif_beta": float,
        "cuba_alpha": float,
    },
}


@dataclass
class Space:
    """A parsed, checked SPACE.toml."""

    source: str
    input_shape: tuple[int, ...]
    image: tuple[int, ...] | None
    search: dict[str, list]
    mlp: dict[str, Any] = field(default_factory=dict)
    cnn: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=lambda: dict(TRAIN_DEFAULTS))


def load_space(path: str | Path) -> Space:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise NmcError(f"--space {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NmcError(f"--space {path}: cannot read it ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise NmcError(f"{path}: not valid TOML ({e})") from None
    return parse_space(data, str(path))


def parse_space(data: dict, source: str = "space") -> Space:
    def bad(key: str, what: str) -> NmcError:
        return NmcError(f"{source}: [{key}] {what}")

    for table, value in data.items():
        if table not in _SCHEMA:
            raise bad(table, f"is not a section of a search space (sections: {', '.join(_SCHEMA)})")
        if not isinstance(value, dict):
            raise bad(table, "must be a table")
        for key, v in value.items():
            want = _SCHEMA[table].get(key)
            if want is None:
                raise bad(f"{table}.{key}", f"is unknown (keys of [{table}]: {', '.join(_SCHEMA[table])})")
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = value[key] = float(v)
            if not isinstance(v, want) or isinstance(v, bool):
                raise bad(f"{table}.{key}", f"must be a {want.__name__}, got {v!r}")
            if want is list and not v:
                raise bad(f"{table}.{key}", "lists the choices and must not be empty")
    inp, search = data.get("input", {}), data.get("search", {})
    shape = _positive_ints(inp.get("shape"), source, "input.shape")
    if shape is None:
        raise bad("input.shape", "is required: one sample's shape in DATA.npz, e.g. shape = [64]")
    image = _positive_ints(inp.get("image"), source, "input.image")
    if image is not None and _product(image) != _product(shape):
        raise bad("input.image", f"{image} holds {_product(image)} values, the input {shape} holds {_product(shape)}")
    families = search.get("families", ["mlp"])
    _choices(families, FAMILIES, source, "search.families")
    for family in families:
        if family not in data:
            raise bad(family, f"is missing: [search] families names '{family}'")
    if "cnn" in families and image is None and len(shape) != 3:
        raise bad("input.image", f"is required for CNN candidates on a {list(shape)} input, e.g. image = [1, 8, 8]")
    spec = {
        "families": families,
        "neuron": search.get("neuron", ["if"]),
        "ticks": search.get("ticks", [32]),
        "weight_bits": search.get("weight_bits", [8]),
    }
    _choices(spec["neuron"], NEURONS, source, "search.neuron")
    for key in ("ticks", "weight_bits"):
        _positive_ints(spec[key], source, f"search.{key}")
    space = Space(source, tuple(shape), tuple(image) if image else None, spec, train={**TRAIN_DEFAULTS, **data.get("train", {})})
    if "mlp" in families:
        space.mlp = {"depth": _range(data["mlp"].get("depth"), source, "mlp.depth")}
        space.mlp["width"] = _positive_ints(data["mlp"].get("width", [64]), source, "mlp.width")
    if "cnn" in families:
        c = data["cnn"]
        space.cnn = {"depth": _range(c.get("depth"), source, "cnn.depth")}
        space.cnn["channels"] = _positive_ints(c.get("channels", [8]), source, "cnn.channels")
        space.cnn["kernel"] = _positive_ints(c.get("kernel", [3]), source, "cnn.kernel")
        space.cnn["pool"] = c.get("pool", ["avg"])
        _choices(space.cnn["pool"], POOLS, source, "cnn.pool")
        fc = c.get("fc_width", [0])
        if any(not isinstance(w, int) or isinstance(w, bool) or w < 0 for w in fc):
            raise bad("cnn.fc_width", f"must list widths >= 0 (0: no hidden layer), got {fc}")
        space.cnn["fc_width"] = fc
    t = space.train
    if t["epochs"] < 1 or t["batch_size"] < 1 or t["finetune_epochs"] < 0 or not t["lr"] > 0:
        raise bad("train", "needs epochs >= 1, batch_size >= 1, lr > 0 and finetune_epochs >= 0")
    if not 0.0 < t["validation"] < 1.0:
        raise bad("train.validation", f"is the held-out fraction, in (0, 1), got {t['validation']}")
    if not 0.0 < t["lif_beta"] <= 1.0:
        raise bad("train.lif_beta", f"must be in (0, 1], got {t['lif_beta']}")
    if not 0.0 < t["cuba_alpha"] <= 1.0:
        raise bad("train.cuba_alpha", f"must be in (0, 1], got {t['cuba_alpha']}")
    return space


def _product(dims: list[int]) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


def _positive_ints(v: Any, source: str, key: str) -> list[int] | None:
    if v is None:
        return None
    if not isinstance(v, list) or not v or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in v):
        raise NmcError(f"{source}: [{key}] must be a list of positive integers, got {v!r}")
    return v


def _choices(v: list, allowed: tuple[str, ...], source: str, key: str) -> None:
    wrong = [c for c in v if c not in allowed]
    if wrong:
        raise NmcError(f"{source}: [{key}] has {wrong}; choose from {list(allowed)}")


def _range(v: Any, source: str, key: str) -> tuple[int, int]:
    if v is None:
        return (1, 1)
    low, high = (v.get("low"), v.get("high")) if isinstance(v, dict) else (None, None)
    if not (isinstance(low, int) and isinstance(high, int)) or not 1 <= low <= high or set(v) - {"low", "high"}:
        raise NmcError(f"{source}: [{key}] must be {{ low = a, high = b }} with 1 <= a <= b, got {v!r}")
    return (low, high)


# --------------------------------------------------------------------------- candidates


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """One candidate's parameters, drawn from an Optuna trial."""
    s = space.search
    p: dict[str, Any] = {
        "family": trial.suggest_categorical("family", s["families"]),
        "neuron": trial.suggest_categorical("neuron", s["neuron"]),
        "ticks": trial.suggest_categorical("ticks", s["ticks"]),
        "weight_bits": trial.suggest_categorical("weight_bits", s["weight_bits"]),
    }
    if p["family"] == "mlp":
        depth = trial.suggest_int("mlp_depth", *space.mlp["depth"])
        p["widths"] = [trial.suggest_categorical(f"mlp_width_{i}", space.mlp["width"]) for i in range(depth)]
    else:
        depth = trial.suggest_int("cnn_depth", *space.cnn["depth"])
        p["layers"] = [
            {
                "channels": trial.suggest_categorical(f"cnn_channels_{i}", space.cnn["channels"]),
                "kernel": trial.suggest_categorical(f"cnn_kernel_{i}", space.cnn["kernel"]),
                "pool": trial.suggest_categorical(f"cnn_pool_{i}", space.cnn["pool"]),
            }
            for i in range(depth)
        ]
        p["fc_width"] = trial.suggest_categorical("cnn_fc_width", space.cnn["fc_width"])
    return p


def describe(p: dict[str, Any]) -> str:
    """A short name: 'mlp 64-32 if t32 w4', 'cnn c8k3p-c16k3 fc32 lif t16 w8'."""
    if p["family"] == "mlp":
        body = "mlp " + "-".join(map(str, p["widths"]))
    else:
        convs = "-".join(f"c{ly['channels']}k{ly['kernel']}{'p' if ly['pool'] == 'avg' else ''}" for ly in p["layers"])
        body = f"cnn {convs}" + (f" fc{p['fc_width']}" if p["fc_width"] else "")
    return f"{body} {p['neuron']} t{p['ticks']} w{p['weight_bits']}"


def build(p: dict[str, Any], space: Space, classes: int, seed: int) -> Any:
    """The untrained torch module of a candidate (if: a ReLU ANN to convert; lif, cuba: an nmc.nn SNN of LIF or
    current-based LIF neurons; rlif, rcuba: the same with each fully connected hidden layer recurrent, conv layers
    not: a loop over a feature map is not in the space)."""
    import torch
    from torch import nn

    from nmc import nn as nmc_nn

    torch.manual_seed(seed)
    beta, alpha = space.train["lif_beta"], space.train["cuba_alpha"]

    def act(width: int | None = None) -> nn.Module:
        kind = p["neuron"]
        if kind == "if":
            return nn.ReLU()
        if kind == "rlif" and width is not None:
            return nmc_nn.RLIF(width, beta=beta)
        if kind == "rcuba" and width is not None:
            return nmc_nn.RCubaLIF(width, alpha=alpha, beta=beta)
        return nmc_nn.CubaLIF(alpha=alpha, beta=beta) if kind in ("cuba", "rcuba") else nmc_nn.LIF(beta=beta)

    layers: list[nn.Module] = []
    if p["family"] == "mlp":
        width = _product(list(space.input_shape))
        layers.append(nn.Flatten())
        for w in p["widths"]:
            layers += [nn.Linear(width, w), act(w)]
            width = w
    else:
        image = space.image or space.input_shape
        if tuple(image) != tuple(space.input_shape):
            layers += [nn.Flatten(), nn.Unflatten(1, tuple(image))]
        c, h, w = image
        for ly in p["layers"]:
            k = ly["kernel"]
            layers += [nn.Conv2d(c, ly["channels"], k, padding=k // 2), act()]
            c = ly["channels"]
            if ly["pool"] == "avg" and h >= 2 and w >= 2:
                layers.append(nn.AvgPool2d(2))
                h, w = h // 2, w // 2
        layers.append(nn.Flatten())
        width = c * h * w
        if p["fc_width"]:
            layers += [nn.Linear(width, p["fc_width"]), act(p["fc_width"])]
            width = p["fc_width"]
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)
