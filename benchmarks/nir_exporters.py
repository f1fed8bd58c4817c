"""NIR from Norse, Sinabs and Rockpool, compiled with no flags, against each framework running its own model (docs/benchmarks.md).

A Norse LIFBox MLP 64-64-10 and a Sinabs IAF conv net (conv 8 3x3, IAF, sum-pool 2, linear 10, IAF; single spike,
reset to zero: what NIR can state) are trained a few epochs on spike-coded digits (tests/nir_models.py), exported
by the framework's own `to_nir`, and compiled by `nmc.compile` without --dt (nmc recognises each exporter's
convention, docs/nir.md). Reported: are the snn-level spike counts identical to the framework's on every test
sample; the int8 chip (tianjic256, simulator): decisions agreeing with the framework and accuracy.

Norse 1.1 and Sinabs 3.1 pin older nir / newer torch than nmc, so they are not project dependencies:

    pip install --no-deps --target /tmp/extra norse==1.1.0 sinabs==3.1.3 rockpool==3.1.0
    PYTHONPATH=/tmp/extra python benchmarks/nir_exporters.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from nmc.errors import NmcError
from nmc.runtime.snn_interp import run_snn
from tests import nir_models

TICKS = nir_models.TICKS
EPOCHS = 6


def _train(step, params, x: np.ndarray, y: np.ndarray, lr: float = 2e-3) -> None:
    """Adam on the summed output spikes over the ticks (surrogate gradients), seeded."""
    opt = torch.optim.Adam(params, lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(step(xt[idx]), yt[idx]).backward()
            opt.step()


def norse_case():
    import norse.torch as norse

    def cell(n: int):
        p = norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 100.0), v_leak=torch.zeros(n), v_th=torch.ones(n),
                                   v_reset=torch.zeros(n))  # fmt: skip
        return norse.LIFBoxCell(p)

    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(64, 64), cell(64), torch.nn.Linear(64, 10), cell(10))
    with torch.no_grad():  # Norse's input gain is dt * tau_mem_inv = 0.1: start where neurons spike
        for layer in (model[0], model[2]):
            layer.weight.mul_(10.0)

    def counts(xb: torch.Tensor) -> torch.Tensor:
        state, out = None, 0
        for t in range(xb.shape[1]):
            y, state = model(xb[:, t], state)
            out = out + y
        return out

    x, y = nir_models.spike_digits(0, test=False, flat=True)
    _train(counts, model.parameters(), x, y, lr=1e-2)
    graph = norse.to_nir(model, torch.zeros(64))
    return "Norse LIFBox MLP 64-64-10", graph, counts, True


def sinabs_case():
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    torch.manual_seed(0)

    def iaf():
        return sl.IAFSqueeze(batch_size=1, spike_fn=SingleSpike, reset_fn=MembraneReset())

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), iaf(), sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(72, 10),
                                iaf())  # fmt: skip

    def counts(xb: torch.Tensor) -> torch.Tensor:
        n = xb.shape[0]
        for m in model:
            if isinstance(m, sl.IAFSqueeze):
                m.batch_size = n
        sinabs.reset_states(model)
        out = model(xb.reshape(n * xb.shape[1], *xb.shape[2:]))  # Squeeze layers: (batch * time, ...), batch-major
        return out.reshape(n, xb.shape[1], -1).sum(1)

    x, y = nir_models.spike_digits(0, test=False, flat=False)
    _train(counts, model.parameters(), x, y)
    for m in model:
        if isinstance(m, sl.IAFSqueeze):
            m.batch_size = 1
    graph = sinabs.to_nir(model, torch.zeros(1, 1, 8, 8))
    return "Sinabs IAF conv c8-sumpool-fc10", graph, counts, False


def rockpool_case():
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch, to_nir

    torch.manual_seed(0)
    # one spike per tick (max_spikes_per_dt = 1): what a NIR neuron and nmc's populations emit
    model = Sequential(LinearTorch((64, 64)), LIFTorch(64, tau_mem=0.02, tau_syn=0.01, dt=1e-3, max_spikes_per_dt=1),
                       LinearTorch((64, 10)), LIFTorch(10, tau_mem=0.02, tau_syn=0.01, dt=1e-3, max_spikes_per_dt=1))  # fmt: skip

    def counts(xb: torch.Tensor) -> torch.Tensor:
        model.reset_state()
        out, _state, _record = model(xb)
        return out.sum(1)

    # untrained (its surrogate training did not take within this benchmark's budget): random weights scaled so that
    # both layers spike; what is checked is the export's convention, spike for spike
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(3.0)
    return "Rockpool LIF (current-based) MLP 64-64-10, untrained", to_nir(model), counts, True


def main() -> None:
    rows = []
    for build in (norse_case, sinabs_case, rockpool_case):
        name, graph, counts, flat = build()
        xte, yte = nir_models.spike_digits(1, test=True, flat=flat)
        with torch.no_grad():
            reference = counts(torch.from_numpy(xte)).numpy()
        compiled = nmc.compile(graph, target="mlir", level="snn")
        note = next(n for n in compiled.notes if "dt" in n)
        snn = run_snn(compiled.module, xte).outputs[0].reshape(len(xte), -1)
        calib = nir_models.spike_digits(0, test=False, flat=flat)[0][:200]
        same = np.array_equal(snn, reference)
        acc_ref = float((reference.argmax(1) == yte).mean())
        try:
            chip = nmc.compile(graph, calibration=calib, allow_accuracy_loss=True).run(xte).reshape(len(xte), -1)
            agree, acc_chip = (f"{100 * float(v):.1f}" for v in ((chip.argmax(1) == reference.argmax(1)).mean(),
                                                                  (chip.argmax(1) == yte).mean()))  # fmt: skip
        except NmcError as e:  # e.g. current-based neurons on the default chip, which has none (core.neuron)
            message = str(e).splitlines()[1].strip() if "violation" in str(e) else str(e).split(":", 2)[1].strip()
            agree, acc_chip = "refused", f"refused ({message})"
        rows.append(f"| {name} | {int(reference.sum()):,} | {'yes' if same else 'NO'} | {agree} | {100 * acc_ref:.1f} "
                    f"| {acc_chip} | {note.split(';', 1)[1].strip()} |")  # fmt: skip
        print(rows[-1], flush=True)
    write_section("nir-exporters", "\n".join([
        "## NIR from Norse, Sinabs and Rockpool, no flags (`benchmarks/nir_exporters.py`)", "",
        f"Machine: {machine()}. Each network trained {EPOCHS} epochs on spike-coded digits ({TICKS} ticks), exported by its "
        "framework's `to_nir`, compiled by `nmc.compile(graph)` with no --dt; 540 test samples. 'identical' = every "
        "output spike count of nmc's snn level equal to the framework's own run; chip = int8 tianjic256 on the simulator "
        "(first-index argmax on both). Norse 1.1.0, Sinabs 3.1.3 and Rockpool 3.1.0 are run from `pip install --no-deps` "
        "(they pin an older nir or a newer torch).", "",
        "| network | framework spikes | snn level identical | chip decides like the framework % | framework accuracy % "
        "| chip accuracy % | dt nmc chose (its note) |",
        "|---|---:|---|---:|---:|---:|---|", *rows,
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
