"""`nmc-tnn`: fit a temporal neural network (TNNGen) to time series by STDP, and cluster with it (docs/tnn.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser():
    from nmc.options import positive_int
    from nmc.tools._cli import OneLineParser

    p = OneLineParser(prog="nmc-tnn", description="Temporal neural networks: unsupervised STDP clustering of time series.")
    sub = p.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="learn a TNN column from series X (samples, length) or (samples, channels, length)")
    fit.add_argument("data", metavar="X.npy")
    fit.add_argument("--clusters", type=positive_int, required=True, help="K: neurons of the column, one per cluster")
    fit.add_argument("--labels", metavar="y.npy", help="true labels: print the Rand index of the fitted clustering")
    fit.add_argument("--epochs", type=int, default=5, help="passes over X, samples in a seeded order (default 5)")
    fit.add_argument("--seed", type=int, default=0, help="seed of weights, order, projection and STDP randomness (default 0)")
    fit.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where STDP runs (default cpu)")
    fit.add_argument("--chip", metavar="NAME|FILE.chip",
                     help="the chip the TNN is fitted for: the defaults below fit its TNN column (default tnn16)")  # fmt: skip
    fit.add_argument("--time-bits", type=positive_int, help="b: spike times 0..2^b-1 (default: the chip's largest)")
    fit.add_argument("--weight-bits", type=positive_int, default=3, help="unsigned weight bits (default 3)")
    fit.add_argument("--encoder", choices=("grf", "latency"), default="grf", help="value -> spike time code (default grf)")
    fit.add_argument(
        "--fields", type=positive_int, help="Gaussian receptive fields per value (default 8; 16 for series of several channels)"
    )
    fit.add_argument(
        "--project", type=positive_int,
        help="reduce each series to this many values (default: only where the values x fields exceed the chip's "
        "column synapses, to synapses / fields; see --reduce)",
    )  # fmt: skip
    fit.add_argument(
        "--reduce", choices=("sparse", "paa", "mixed"),
        help="how a series is reduced: sparse random projection, piecewise aggregate approximation per channel, "
        "or mixed (half each; the default, sparse where channels outnumber half the values)",
    )  # fmt: skip
    fit.add_argument("--threshold", type=positive_int, help="theta (default: 0.3 x mean spiking inputs x wmax / 2)")
    fit.add_argument("--response", choices=("rnl", "snl"), default="rnl", help="ramp-no-leak (default) or step-no-leak")
    fit.add_argument("--stabilise", action="store_true", help="gate STDP by the weight-dependent stabiliser F(w)")
    fit.add_argument("-o", "--output", required=True, metavar="MODEL.pt", help="the fitted TNN (an nmc-compile input)")
    pred = sub.add_parser("predict", help="cluster series with a fitted TNN: the winning neuron per sample (-1: none spiked)")
    pred.add_argument("model", metavar="MODEL.pt")
    pred.add_argument("data", metavar="X.npy")
    pred.add_argument("--labels", metavar="y.npy", help="true labels: print the Rand index")
    pred.add_argument("-o", "--output", required=True, metavar="clusters.npy")
    return p


def _array(path: str, what: str):
    import numpy as np

    from nmc.driver import load_npy
    from nmc.errors import NmcError

    a = load_npy(path, what)
    if what == "labels":
        if a.ndim != 1:
            raise NmcError(f"{path}: labels must be one per sample (1-D), got shape {list(a.shape)}")
        return a
    if a.ndim not in (2, 3) or not np.issubdtype(a.dtype, np.number):
        raise NmcError(
            f"{path}: series must be numbers of shape (samples, length) or (samples, channels, length), "
            f"got {a.dtype} {list(a.shape)}"
        )
    return a


def _rand(labels_path: str | None, clusters, n: int) -> str:
    if not labels_path:
        return ""
    from nmc.errors import NmcError
    from nmc.tnn import rand_index

    y = _array(labels_path, "labels")
    if len(y) != n:
        raise NmcError(f"{labels_path}: {len(y)} labels for {n} samples")
    return f", Rand index {rand_index(y, clusters):.4f}"


def main(argv: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-tnn"):
        args = build_parser().parse_args(argv)
        import numpy as np
        import torch

        from nmc import tnn
        from nmc.driver import check_output_dir, write_atomically
        from nmc.errors import NmcError

        out = Path(args.output)
        check_output_dir(out.parent if str(out.parent) else Path("."))
        if out.is_dir():
            raise NmcError(f"-o {out}: is a folder; give a file name")
        if args.command == "fit":
            x = _array(args.data, "series")
            if args.labels:
                _rand(args.labels, np.zeros(len(x), int), len(x))  # labels checked before the long step
            model = tnn.build(x, args.clusters, chip=args.chip, time_bits=args.time_bits, weight_bits=args.weight_bits,
                              encoder=args.encoder, fields=args.fields, project=args.project, threshold=args.threshold,
                              response=args.response, seed=args.seed, stabilise=args.stabilise, reduce=args.reduce)  # fmt: skip
            p, q = model.layers[0].synapses, model.layers[0].neurons
            width = int(np.prod(x.shape[1:]))
            values = model.projection.shape[1] if model.projection.numel() else width
            reduced = f", {width} values reduced to {values}" if values < width else ""
            print(f"TNN column {p} synapses x {q} neurons, theta {int(model.layers[0].theta[0, 0])}, "
                  f"{1 << model.time_bits} ticks per sample, {model.fields_per_value} fields per value"
                  f"{reduced}", file=sys.stderr)  # fmt: skip
            tnn.fit(model, x, args.epochs, args.seed, args.device,
                    progress=lambda e, n: print(f"epoch {e}/{n}", file=sys.stderr))  # fmt: skip
            clusters = model.predict(x)
            write_atomically(out, lambda f: torch.save(model, f), mode="wb")
            print(f"wrote {out}: {len(x)} samples in {len(set(clusters.tolist()) - {-1})} clusters"
                  f"{_rand(args.labels, clusters, len(x))}")  # fmt: skip
        else:
            from nmc.frontends.torch_import import load_model

            model = load_model(args.model)
            if not isinstance(model, tnn.TNN):
                raise NmcError(f"{args.model}: not a TNN (nmc-tnn fit writes one)")
            x = _array(args.data, "series")
            clusters = model.predict(x)
            write_atomically(out, lambda f: np.save(f, clusters), mode="wb")
            print(f"wrote {out}: {len(x)} samples, {int((clusters < 0).sum())} without an output spike"
                  f"{_rand(args.labels, clusters, len(x))}")  # fmt: skip


if __name__ == "__main__":
    main()
