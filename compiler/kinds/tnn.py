"""The TNN column kind's DRIVER facet (nmc.chips.kinds, nmc.kinds.driver): how `nmc.compile` takes an
`nmc.tnn.TNN` (TNNGen's temporal network) onto TNN column cores.

Its steps: the calibration series and the model file are read first; import gives the snn-level
tnn.network; snn-to-core makes one tnn.column per core, checked against the chip's tnn_column;
the generic mapping places the columns (--placement, --seed) and routes their lines; with
calibration data the binary runs on the simulator and must give the torch model's spike times on
every sample; --forecast predicts the silicon, --target verilog writes the column RTL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.driver import load_npy, print_ir, write_atomically
from nmc.errors import ModelRejected, NmcError
from nmc.kinds.driver import CompileContext
from nmc.kinds.tnn_hardware import forecast, verilog_outputs
from nmc.limits import bounded_memory
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.passes.tnn_columns import MAPPING
from nmc.pipeline import run_passes
from nmc.runtime import engines
from nmc.runtime.tnn_sim import TnnChip

TNN_OPTIONS = frozenset(
    {"chip", "target", "level", "calibration", "check", "placement", "seed", "dump_ir", "max_model_bytes"}
    | {"synth", "tb_samples", "clock_mhz", "forecast"}
)
WHY = {
    "timesteps": "a TNN's time is its gamma cycle, 2^time_bits unit steps, set when it was trained (nmc-tnn fit --time-bits)",
    "encoding": "a TNN encodes its inputs with its own trained encoder (Gaussian fields or latency)",
    "weight_bits": "a TNN's weights have the bits it was trained with (nmc-tnn fit --weight-bits)",
    "partition": "partition-cores puts one TNN column on each core; there is nothing to choose",
    "approximate_fan_in": "a TNN column is never split (k-WTA spans the column)",
    "disable": "a TNN lowers with snn-to-core alone; there is no optional pass",
    "allow_accuracy_loss": "a TNN compiles exactly (spike times are checked equal), so there is no accuracy gate",
    "finetune": "fine-tuning trains crossbar networks; a TNN learns with STDP (nmc-tnn fit, nmc-run --learn)",
    "plot": "--plot draws crossbar spike rasters",
}


def is_tnn_file(path: str | Path) -> bool:
    """A torch pickle whose globals name nmc.tnn.TNN (read without unpickling)."""
    from nmc.frontends.torch_load import pickle_globals

    p = Path(path)
    if p.suffix in (".pt2", ".nir") or not p.is_file():
        return False
    try:
        return "nmc.tnn.TNN" in pickle_globals(p)  # as pickle_globals names them: module.Name
    except Exception:
        return False


class TnnDriver:
    """What the one compile path needs of the TNN column kind (see nmc.kinds.driver.DriverFacet)."""

    fallback = False
    options = TNN_OPTIONS
    why = WHY
    targets = ("chip", "mlir", "verilog")

    def takes(self, model: Any) -> bool:
        return type(model).__name__ == "TNN" or (isinstance(model, str | Path) and is_tnn_file(model))

    def run_command(self, path: Path, loaded: Any, x: np.ndarray, args: Any) -> None:
        run_command(path, loaded, x, args)

    def prepare(self, model: Any, ctx: CompileContext) -> Any:
        from nmc.tnn import TNN

        x = ctx.options.calibration  # read before the long steps, so a bad file fails first
        if isinstance(x, str | Path):
            ctx.calibration_file = str(Path(x).resolve())
            x = load_npy(x, "calibration series")
        elif x is not None:
            x = np.asarray(x)
        ctx.calibration = x
        if isinstance(model, str | Path):
            from nmc.frontends.torch_import import load_model

            with bounded_memory(str(model), ctx.options.max_model_bytes):
                model = load_model(model)
        if not isinstance(model, TNN):
            raise ModelRejected(f"{ctx.stem}: not an nmc.tnn.TNN")
        if ctx.options.chip is None:
            ctx.notes.append(f"a TNN runs on TNN column cores: chip '{ctx.kind.default_chip}' (give --chip for another)")
        ctx.state["model"] = model
        return model

    def import_model(self, model: Any, ctx: CompileContext) -> Any:
        from nmc.frontends.tnn_import import import_tnn

        module = import_tnn(model, ctx.stem)
        module.verify()
        ctx.report.update({"model": ctx.stem, "kind": "tnn", "chip": ctx.chip.to_json()})
        return module

    def lower(self, module: Any, ctx: CompileContext) -> None:

        passes = [SnnToCorePass(chip=ctx.chip_ref)]
        try:
            run_passes(module, passes, ctx.say)
        except NmcError as e:
            raise ModelRejected(f"{ctx.stem}: {e}") from None
        ctx.passes.extend(passes)
        if ctx.keep_ir:
            ctx.levels["core"] = print_ir(module)

    def before_mapping(self, module: Any, ctx: CompileContext) -> list[Any]:
        return []

    def mapping_report(self, module: Any, image: Any, ctx: CompileContext) -> None:

        model = ctx.state["model"]
        (net,) = MAPPING.networks(module)
        cols = image.arrays["COL "]
        ctx.report["tnn"] = {
            "time_bits": model.time_bits,
            "weight_bits": model.weight_bits,
            "encoder": image.meta["encoder"],
            "layers": [
                {"columns": m.columns, "synapses": m.synapses, "neurons": m.neurons, "k": m.k, "response": m.response}
                for m in model.layers
            ],
            "columns": int(image.meta["columns"]),
            "cores_used": int(image.meta["columns"]),
            "synapses": int(cols["weight"].size),
            "neurons": int(cols["q"].sum()),
            "traffic_lines_per_sample": float(net.attributes["traffic"].value.data),
            "average_hops": float(net.attributes["hops"].value.data),
            "gamma_cycle_ticks": 1 << model.time_bits,
        }
        ctx.state["image"] = image

    def chip_outputs(self, module: Any, image: Any, binary: bytes, ctx: CompileContext) -> dict[str, str | bytes]:
        return {}

    def target_outputs(self, target: str, module: Any, image: Any, ctx: CompileContext) -> dict[str, str | bytes]:

        report: dict[str, Any] = {}
        files = verilog_outputs(image, ctx.chip, ctx.stem, ctx.calibration, ctx.options, report, ctx.say)
        ctx.state["verilog_report"] = report
        return files

    def finish(self, module: Any, files: dict[str, str | bytes], ctx: CompileContext) -> None:
        o = ctx.options
        image = ctx.state.get("image")
        if image is not None and ctx.calibration is not None and o.check:
            ctx.say("check")
            ctx.report["check"] = _check(ctx.state["model"], image, ctx.calibration)
        if o.forecast:
            if image is None:
                raise NmcError("--forecast predicts the mapped columns: use it with --target chip or verilog (or --level map)")
            model = ctx.state["model"]
            ctx.say("forecast")
            ctx.report["forecast"] = forecast(image.arrays["COL "], ctx.chip, o.clock_mhz, model.time_bits, model.weight_bits)
        ctx.report.update(ctx.state.get("verilog_report", {}))


def run_command(path: Path, loaded: Any, x: np.ndarray, args: Any) -> None:
    """`nmc-run` on a TNN binary image or tnn IR module: -o gets the winning line per sample (or the output
    spike times); --learn runs STDP while running; --labels prints the Rand index."""

    if isinstance(loaded, ChipImage):
        run = engines.simulate(loaded, x, device=args.device, learn=args.learn)
        where = "chip simulator"
    else:
        run = engines.interpret(loaded, x, learn=args.learn)
        where = "IR interpreter"
    result = run.outputs if args.record == "spikes" else run.winners
    if args.output:
        out = Path(args.output)
        write_atomically(out, lambda f: np.save(f, result), mode="wb")
        print(
            f"wrote {out} ({'output spike times' if args.record == 'spikes' else 'winning line per sample'} {list(result.shape)})"
        )
    counts = np.bincount(run.winners + 1, minlength=2)
    print(f"{len(x)} samples on the {where}{' with STDP' if args.learn else ''}: "
          f"{counts[0]} without an output spike; per line {counts[1:].tolist()}")  # fmt: skip
    if args.labels:
        from nmc.tnn import rand_index

        labels = load_npy(args.labels, "labels")
        if labels.shape != (len(x),):
            raise NmcError(f"{args.labels}: expected {len(x)} labels (one per sample), got shape {list(labels.shape)}")
        print(f"Rand index {rand_index(labels, run.winners):.4f} on {len(x)} samples")


def _check(model: Any, image: ChipImage, x: np.ndarray) -> dict[str, Any]:
    """Spike times of the torch model and of the binary on the simulator, sample by sample: they must be equal."""
    import torch

    with torch.no_grad():
        expected = model(model.encode(x)).cpu().numpy()
    got = TnnChip(image).run(x).outputs
    bad = np.nonzero((expected != got).any(axis=1))[0]
    if bad.size:
        n = int(bad[0])
        j = int(np.nonzero(expected[n] != got[n])[0][0])
        raise NmcError(f"the chip simulator differs from the torch TNN on calibration sample {n}, output line {j}: "
                       f"spike time {got[n, j]} vs {expected[n, j]}")  # fmt: skip
    return {"samples": len(x), "identical_spike_times": True}


DRIVER = TnnDriver()
