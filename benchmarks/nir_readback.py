"""nmc's `--target nir` files read back by every NIR reader that installs here, spikes against nmc's snn level.

Two networks written by snnTorch's exporter (tests/nir_models.py: a Leaky MLP 64-64-10 and a conv net), compiled
by nmc and written back with `--target nir`; each reader imports that file with its own `from_nir` and runs the
test spike trains; its output spike counts are compared with nmc's snn-level interpreter on the same file.
Readers: snnTorch 1.0 (a project test dependency), Norse 1.1, Sinabs 3.1 and Rockpool 3.1 (they pin other nir /
torch versions, so they are not project dependencies):

    pip install --no-deps --target /tmp/extra norse==1.1.0 sinabs==3.1.3 rockpool==3.1.0
    PYTHONPATH=/tmp/extra python benchmarks/nir_readback.py

Writes the table of docs/nir.md (section `nir-readback`).
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import write_section

import nmc
from nmc.runtime.snn_interp import run_snn
from tests import nir_models

DOC = Path(__file__).resolve().parent.parent / "docs" / "nir.md"
SAMPLES = 100

# why a reader's spikes differ, found by reading its importer (the rule, not the symptom); by (reader, conv net)
RULES = {
    ("norse", False): "Norse 1.1's LIF import takes dt from its own `from_nir(dt=)` argument (run here with the file's "
    "metadata dt) and drops `r`: the input gain becomes dt/tau = 1 - beta instead of 1",
    ("sinabs", False): "Sinabs 3.1 builds LIFSqueeze(tau_mem=tau) with tau read in ticks (decay exp(-1/tau)) and "
    "ignores `r` and dt: at tau = 0.8 ms the membrane empties every tick",
    ("rockpool", False): "Rockpool 3.1 reads a LIF node's `tau_mem` (the CubaLIF field name), which nir 1.0's LIF "
    "does not have: no LIF node can be read",
}
RULES[("norse", True)] = RULES[("norse", False)]
RULES[("sinabs", True)] = ("Sinabs 3.1 tests `any(v_leak)`, which raises on a v_leak of more than one axis (a conv "
                           "layer's LIF): conv LIF nodes cannot be read")  # fmt: skip
RULES[("rockpool", True)] = "Rockpool 3.1 has no conversion for a Conv2d node (NotImplementedError)"


def counts_snntorch(path: Path, x: np.ndarray, conv: bool) -> np.ndarray:
    return nir_models.snntorch_counts(path, x, per_sample=conv)


def counts_norse(path: Path, x: np.ndarray, conv: bool) -> np.ndarray:
    import nir
    import norse.torch as norse

    graph = nir.read(path)
    model = norse.from_nir(graph, dt=float(graph.metadata.get("dt", 1e-3)))  # the file's dt, not Norse's default
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out, state = model(torch.from_numpy(x[:, t]), state)
            outs.append(out)
    return torch.stack(outs).sum(0).reshape(len(x), -1).numpy()


def counts_sinabs(path: Path, x: np.ndarray, conv: bool) -> np.ndarray:
    import nir
    import sinabs

    model = sinabs.from_nir(nir.read(path), batch_size=len(x))
    flat = torch.from_numpy(x.reshape(len(x) * x.shape[1], *x.shape[2:]))  # Sinabs' squeeze layers: (batch x time, ...)
    with torch.no_grad():
        out = model(flat)
    out = out[0] if isinstance(out, tuple) else out
    return out.reshape(len(x), x.shape[1], -1).sum(1).numpy()


def counts_rockpool(path: Path, x: np.ndarray, conv: bool) -> np.ndarray:
    import nir
    from rockpool.nn.modules import from_nir

    model = from_nir(nir.read(path))
    out, _state, _record = model(torch.from_numpy(x.reshape(len(x), x.shape[1], -1)))
    return out.detach().sum(1).reshape(len(x), -1).numpy()


READERS: dict[str, Callable[[Path, np.ndarray, bool], np.ndarray]] = {
    "snntorch": counts_snntorch,
    "norse": counts_norse,
    "sinabs": counts_sinabs,
    "rockpool": counts_rockpool,
}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, conv in (("Leaky MLP 64-64-10", nir_models.mlp_nir, False), ("conv net", nir_models.conv_nir, True)):
            src = make(Path(tmp) / f"{conv}.nir")
            exported = Path(tmp) / f"{conv}.nmc.nir"
            exported.write_bytes(next(iter(nmc.compile(src, target="nir").files.values())))
            x, _ = nir_models.spike_digits(0, test=True, flat=not conv)
            x = x[:SAMPLES]
            ref = run_snn(nmc.compile(exported, target="mlir", level="snn").module, x).outputs[0].reshape(len(x), -1)
            for reader, run in READERS.items():
                try:
                    got = run(exported, x, conv)
                    same = got.shape == ref.shape and np.array_equal(got, ref)
                    agree = float((got == ref).all(1).mean()) if got.shape == ref.shape else 0.0
                    cell = (
                        "identical"
                        if same
                        else f"differ: {agree:.0%} of samples equal; {RULES.get((reader, conv), 'not explained')}"
                    )
                    detail = f"{int(got.sum())} vs {int(ref.sum())}"
                except Exception as e:  # a reader that cannot import the file: its error is the finding
                    where = traceback.extract_tb(e.__traceback__)[-1]
                    cell = f"import fails ({type(e).__name__} at {Path(where.filename).name}:{where.lineno}); {RULES.get((reader, conv), '')}"
                    detail = "-"
                rows.append(f"| {name} | {reader} | {cell} | {detail} |")
                print(rows[-1], flush=True)
    body = "\n".join([
        "## nmc's NIR files read back by other simulators (`benchmarks/nir_readback.py`)", "",
        f"snnTorch-exported networks compiled by nmc and written back with `--target nir`, {SAMPLES} test spike trains; "
        "each reader's output spike counts against nmc's snn level on the same file (total spikes: reader vs nmc).", "",
        "| network | reader | spikes | total spikes |", "|---|---|---|---|", *rows,
    ])  # fmt: skip
    print(body)
    write_section("nir-readback", body, DOC)


if __name__ == "__main__":
    main()
