"""Recurrent and current-based snnTorch networks, end to end: snnTorch's spikes against nmc's at every level.

Three networks trained here with surrogate gradients on spike-coded digits (tests/recurrent_models.py: 64 inputs,
32 ticks, a hidden layer of 64 neurons, 10 outputs): RLeaky (recurrent LIF), Synaptic (current-based LIF) and
RSynaptic (recurrent current-based). Each is compiled from the live module and from snnTorch's own NIR export,
and run on the 540 test samples: spike trains of the hidden and output layers at the snn level and at the float
core level against snnTorch's run, tick for tick; then on int8 chips (a preset that has the neuron family, or the
test chip tests/chips/cuba8.chip: current-based neurons that reset by subtraction), decisions against snnTorch's
and accuracy, with the simulator checked against the core interpreter on the same samples.

    python benchmarks/recurrent.py      # about a minute; writes the section `recurrent` of docs/benchmarks.md

With Norse importable (it pins other versions, so it is not a project dependency:
`pip install --no-deps --target /tmp/extra norse==1.1.0`, then `PYTHONPATH=/tmp/extra`), also a Norse
LIFRecurrentCell (64 neurons, Norse's defaults tau_syn_inv = 200, tau_mem_inv = 100 at dt = 1 ms) written as
the NIR graph its update stands for (docs/nir.md, "Recurrent graphs": Norse 1.1 exports no recurrent cell) and
run by nmc's snn level against Norse's own step.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from nmc.errors import NmcError
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.runtime.core_interp import run_core
from nmc.runtime.snn_interp import run_snn
from tests import recurrent_models as rm
from tests.nir_models import spike_digits

ROOT = Path(__file__).resolve().parent.parent
CUBA8 = str(ROOT / "tests" / "chips" / "cuba8.chip")
CHIPS = {"RLeaky": ["tianjic256", "loihi1"], "Synaptic": ["loihi1", CUBA8], "RSynaptic": [CUBA8]}


def identical(run_spikes: dict[str, np.ndarray], hidden: np.ndarray, out: np.ndarray) -> str:
    """'yes' when the hidden and output trains equal snnTorch's on every sample, tick and neuron, else the count."""
    # the populations by size (live modules name them layer1/layer3, NIR files after their nodes); not the input
    # encoder or a loop's delayed copy
    pops = {v.shape[-1]: v for k, v in run_spikes.items() if k not in ("input", "x") and not k.endswith(".prev")}
    ours_h, ours_o = np.moveaxis(pops[hidden.shape[-1]], 0, 1), np.moveaxis(pops[out.shape[-1]], 0, 1)
    bad = int((ours_h != hidden).sum() + (ours_o != out).sum())
    return "identical" if bad == 0 else f"{bad} spikes differ"


def top_agree(chip_counts: np.ndarray, ref_counts: np.ndarray) -> float:
    """Share of samples whose chip class is one of snnTorch's top classes (spike counts tie often)."""
    best = ref_counts.max(1, keepdims=True)
    pick = chip_counts.argmax(1)
    return float((ref_counts[np.arange(len(pick)), pick] == best[:, 0]).mean())


def levels(module, x: np.ndarray, hidden: np.ndarray, out: np.ndarray) -> tuple[str, str]:
    snn_run = run_snn(module, x, record=True)
    core = module.clone()
    SnnToCorePass().apply(None, core)
    core_run = run_core(core, x, record=True)
    return identical(snn_run.traces, hidden, out), identical(core_run.traces, hidden, out)


def norse_recurrent() -> str:
    """A Norse LIFRecurrentCell against nmc's snn level on the NIR graph its update stands for (one table row)."""
    try:
        import norse.torch as norse
    except ImportError:
        return "| Norse LIFRecurrentCell | not run: Norse is not importable here |"

    torch.manual_seed(0)
    n_in, hidden, dt, v_th = 16, 64, 1e-3, 0.3
    p = norse.LIFParameters(tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(v_th))
    cell = norse.LIFRecurrentCell(n_in, hidden, p=p)
    with torch.no_grad():
        cell.input_weights.mul_(3.0)
    x = (np.random.default_rng(0).random((200, 40, n_in)) < 0.3).astype(np.float32)
    spikes, state = [], None
    with torch.no_grad():
        for t in range(x.shape[1]):
            z, state = cell(torch.from_numpy(x[:, t]), state)
            spikes.append(z)
    ref = torch.stack(spikes, 1).numpy()
    graph = norse_recurrent_nir(cell, n_in, hidden, dt, v_th)
    module = nmc.compile(graph, target="mlir", level="snn").module
    ours = np.moveaxis(run_snn(module, x, record=True).traces["lif"], 0, 1)
    bad = int((ours != ref).sum())
    return (f"| Norse LIFRecurrentCell, {hidden} neurons, {len(x)} samples x {x.shape[1]} ticks | {int(ref.sum())} spikes | "
            f"{'identical' if bad == 0 else f'{bad} spikes differ'} |")  # fmt: skip


def norse_recurrent_nir(cell, n_in: int, hidden: int, dt: float, v_th: float):
    """Norse's LIF step (i_jump = i + W x + W_rec z_prev; v += dt tau_mem_inv (v_leak - v + i_jump); i = i_jump (1 -
    dt tau_syn_inv)) as NIR: a CubaLIF with r = 1 and w_in = tau_syn/dt, its loop through W_rec (docs/nir.md)."""
    import nir

    tau_syn = np.float32(1.0 / float(cell.p.tau_syn_inv))
    tau_mem = np.float32(1.0 / float(cell.p.tau_mem_inv))
    full = lambda v: np.full(hidden, v, np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "w_in": nir.Linear(weight=cell.input_weights.detach().numpy()),
        "lif": nir.CubaLIF(
            tau_syn=full(tau_syn),
            tau_mem=full(tau_mem),
            r=full(1.0),
            w_in=full(tau_syn / np.float32(dt)),
            v_threshold=full(v_th),
            v_leak=full(0.0),
            v_reset=full(0.0),
        ),
        "w_rec": nir.Linear(weight=cell.recurrent_weights.detach().numpy()),
        "output": nir.Output(output_type={"output": np.array([hidden])}),
    }
    edges = [("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def main() -> None:
    torch.set_num_threads(1)
    xte, yte = spike_digits(1, test=True, flat=True)
    calib = spike_digits(0, test=False, flat=True)[0][:200]
    rows, chip_rows = [], []
    for kind in rm.FACTORIES:
        t0 = time.perf_counter()
        net = rm.train(kind, epochs=10)
        trained = time.perf_counter() - t0
        out, hidden = rm.run_snntorch(net, xte)
        ref = out.sum(1)
        acc = float((ref.argmax(1) == yte).mean())
        live = nmc.compile(net, target="mlir", level="snn", calibration=xte, input_shape=(64,), encoding="spikes")
        live_snn, live_core = levels(live.module, xte, hidden, out)
        with tempfile.TemporaryDirectory() as tmp:
            import nir
            from snntorch.export_nir import export_to_nir

            path = Path(tmp) / "net.nir"
            try:
                nir.write(path, export_to_nir(net, torch.zeros(64)))
                from_nir = nmc.compile(path, target="mlir", level="snn", calibration=xte)
                nir_snn, nir_core = levels(from_nir.module, xte, hidden, out)
            except (NmcError, Exception) as e:
                why = str(e).splitlines()[0].split(".nir: ", 1)[-1]  # without the temporary file's path
                nir_snn = nir_core = f"refused: {why[:110]}…"
        rows.append(f"| {kind} | {acc:.1%} | {trained:.1f} s | {live_snn} | {live_core} | {nir_snn} | {nir_core} |")
        for chip in CHIPS[kind]:
            name = Path(chip).stem
            try:
                compiled = nmc.compile(net, calibration=calib, input_shape=(64,), encoding="spikes", chip=chip)
            except NmcError as e:
                chip_rows.append(f"| {kind} | {name} | refused: {str(e).splitlines()[-1].strip()[:120]} | | | |")
                continue
            counts = np.asarray(compiled.run(xte)).reshape(len(xte), -1)
            exact = np.array_equal(run_core(compiled.module, xte).outputs[0].reshape(counts.shape), counts)
            chip_acc = float((counts.argmax(1) == yte).mean())
            chip_rows.append(f"| {kind} | {name} | {top_agree(counts, ref):.1%} | {chip_acc:.1%} ({(chip_acc - acc) * 100:+.1f} "
                             f"pt) | {'identical' if exact else 'DIFFERENT'} | {compiled.report['mapping']['cores_used']} |")  # fmt: skip
        print(rows[-1], *chip_rows[-len(CHIPS[kind]) :], sep="\n", flush=True)
    body = "\n".join([
        "## Recurrent and current-based snnTorch networks (`benchmarks/recurrent.py`)", "",
        f"Three networks trained by the script (surrogate gradients, spike-coded digits, 64-64-10, 32 ticks; "
        f"tests/recurrent_models.py), {len(xte)} test samples; {machine()}. Spike trains of the hidden and output "
        "layers against snnTorch's own run, every sample, tick and neuron:", "",
        "| network | snnTorch accuracy | training | live module, snn level | live module, float core | snnTorch's NIR "
        "export, snn level | NIR, float core |",
        "|---|---|---|---|---|---|---|", *rows, "",
        "On int8 chips (decisions: the chip's class is one of snnTorch's top classes; the simulator against the core "
        "interpreter on every test sample's outputs):", "",
        "| network | chip | decisions agree | accuracy on the chip | simulator = core interpreter | cores |",
        "|---|---|---|---|---|---|", *chip_rows, "",
        "RSynaptic cannot come through NIR identical: snnTorch 1.0 writes tau_mem = dt / (1 - beta), infinite at the "
        "beta = 1 that its always-delayed subtract needs to match any chip (docs/nir.md, recurrent graphs).", "",
        "A Norse recurrent network from NIR (Norse 1.1 exports no recurrent cell: the graph its step stands for, "
        "docs/nir.md), spikes of every neuron and tick against Norse's own run:", "",
        "| network | Norse | nmc snn level |", "|---|---|---|", norse_recurrent(),
    ])  # fmt: skip
    write_section("recurrent", body)


if __name__ == "__main__":
    main()
