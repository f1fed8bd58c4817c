"""The peer simulators of benchmarks/sim.py, each set up to compute exactly the chip's integer IF layers.

Both take the same layers (V += W s + b; spike at V >= theta; V -= theta; the last layer may only
integrate) and the same input spike trains [ticks, batch, inputs], and return the output spike
counts (or final membranes) per sample, as the plain loop of benchmarks/sim.py does.
"""

from __future__ import annotations

import numpy as np


def snntorch_if(layers: list, spikes: np.ndarray) -> np.ndarray:
    """snnTorch `Leaky(beta=1, reset_mechanism="subtract")` layers behind `nn.Linear`.

    snnTorch fires at mem > threshold (strictly) and subtracts the threshold one step later, from
    the pre-reset membrane; starting every membrane at 0.5 turns its `>` into the chip's `>=` on
    integers (mem = V + 0.5) and leaves the subtraction exact. All values are integers (+0.5) below
    2**22, so float32 is exact.
    """
    import snntorch as snn
    import torch

    batch = spikes.shape[1]
    lins, lifs, mems = [], [], []
    for ly in layers:
        w = torch.from_numpy(np.ascontiguousarray(ly.weight, dtype=np.float32))
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(torch.from_numpy(ly.bias))
        lins.append(lin)
        lifs.append(snn.Leaky(beta=1.0, threshold=torch.from_numpy(ly.threshold), reset_mechanism="subtract"))
        mems.append(torch.full((batch, w.shape[0]), 0.5))
    count = torch.zeros(batch, layers[-1].bias.size)
    with torch.no_grad():
        for s_np in spikes:
            s = torch.from_numpy(s_np)
            for i, ly in enumerate(layers):
                cur = lins[i](s)
                if ly.fires:
                    s, mems[i] = lifs[i](cur, mems[i])
                else:
                    mems[i] = mems[i] + cur
            if layers[-1].fires:
                count += s
    return (count if layers[-1].fires else mems[-1] - 0.5).numpy()


class Brian2IF:
    """Brian2 (cython target): the network is built and compiled once (not timed), then run one sample
    at a time with store/restore (Brian2 simulates one network; a batch would be copies of it).

    Brian2's schedule per step is start -> thresholds -> synapses -> resets: a spike reaches the
    next layer's threshold one step later, so layer l lags the plain loop by l steps (as the chip
    does). Each layer's bias starts at its own lag, the run lasts ticks + depth steps, and an
    integrate-only last layer is read one step early (plus its last bias), so every sample matches
    the loop exactly.
    """

    def __init__(self, layers: list, n_in: int):
        import brian2 as b2

        b2.prefs.codegen.target = "cython"
        b2.start_scope()
        b2.defaultclock.dt = 1 * b2.ms
        self.b2, self.layers = b2, layers
        self.gen = b2.SpikeGeneratorGroup(n_in, [0], [0] * b2.ms)
        prev, objects = self.gen, [self.gen]
        for depth, ly in enumerate(layers, start=1):
            n = ly.bias.size
            eqs = "v : 1\nb : 1\ntheta : 1"
            group = (b2.NeuronGroup(n, eqs, threshold="v >= theta", reset="v -= theta", method="exact")
                     if ly.fires else b2.NeuronGroup(n, eqs, method="exact"))  # fmt: skip
            group.b = ly.bias.astype(np.float64)
            group.theta = ly.threshold.astype(np.float64)
            objects.append(group.run_regularly(f"v += b * int(t >= {depth} * ms)", when="start"))
            w = np.asarray(ly.weight.toarray() if hasattr(ly.weight, "toarray") else ly.weight)
            post, pre = np.nonzero(w)
            syn = b2.Synapses(prev, group, "w : 1", on_pre="v_post += w")
            syn.connect(i=pre, j=post)
            syn.w = w[post, pre].astype(np.float64)
            objects += [group, syn]
            prev = group
        self.last, self.fires = prev, layers[-1].fires
        self.monitor = b2.SpikeMonitor(prev) if self.fires else None
        self.net = b2.Network(*objects, *([self.monitor] if self.monitor else []))
        self.net.store()
        self.net.run(1 * b2.ms, namespace={})  # compile every code object now
        self.net.restore()

    def __call__(self, spikes: np.ndarray) -> np.ndarray:
        b2 = self.b2
        ticks, batch, _ = spikes.shape
        steps = ticks + len(self.layers) - (0 if self.fires else 1)
        out = np.zeros((batch, self.layers[-1].bias.size))
        for k in range(batch):
            self.net.restore()
            t_idx, n_idx = np.nonzero(spikes[:, k, :])
            self.gen.set_spikes(n_idx, t_idx * b2.ms)
            self.net.run(steps * b2.ms, namespace={})
            out[k] = np.asarray(self.monitor.count) if self.fires else np.asarray(self.last.v) + self.layers[-1].bias
        return out
