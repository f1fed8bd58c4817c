"""NIR graphs as nmc reads them: the file, nested sub-graphs inlined, dataflow order, and dt.

Kept apart from the node-by-node lowering (`nir_import`): this module knows NIR's
structure, that one the chip's semantics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nmc.errors import NmcError

DEFAULT_DT = 1e-3
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # NIR files are HDF5


def read_graph(path: str | Path) -> Any:
    """`nir.read` with one-line errors (not HDF5, missing fields, wrong shapes) and a time limit."""
    import nir  # noqa: F401  (imported before the fork, so the child starts reading at once)

    path = Path(path)
    if not path.is_file():
        raise NmcError(f"{path}: no such file")
    with path.open("rb") as f:
        if f.read(len(HDF5_MAGIC)) != HDF5_MAGIC:
            raise NmcError(f"{path}: not a NIR file (NIR graphs are HDF5 files; write one with nir.write)")
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():  # no cheap child process: read here
        status, payload = _read(str(path))
    else:
        status, payload = _read_in_child(path)
    if status == "refused":
        raise NmcError(f"{path}: refused: {payload}")
    if status == "error":
        raise NmcError(f"{path}: not a readable NIR graph ({payload})")
    return payload


READ_SECONDS = 30  # a damaged HDF5 file can send the HDF5 library into an endless loop inside one read


def _read(path: str) -> tuple[str, Any]:
    """The graph read from an in-memory copy of the file (what was vetted is what is read)."""
    import io

    import h5py
    import nir

    try:
        data = io.BytesIO(Path(path).read_bytes())
        with h5py.File(data, "r") as f:
            refused = stored_outside(f)
        if refused:
            return "refused", refused
        # nir's own type check rejects what popular exporters write (snnTorch's batched input types):
        # shapes are checked node by node by the importer, with the node named
        return "ok", nir.read(data, type_check=False)
    except Exception as e:  # h5py and nir raise many kinds on a damaged or foreign file
        text = str(e).strip().splitlines()
        return "error", f"{type(e).__name__}: {text[0][:160] if text else ''}"


MAX_HDF5_OBJECTS = 100_000


def stored_outside(f: Any) -> str | None:
    """Why the HDF5 file `f` is refused, or None: every object must be stored inside the file.

    External links, soft links, virtual datasets and external raw storage make HDF5 read
    other files (e.g. /etc/passwd into a weight matrix, which would then travel into the
    binary and the report). Links are inspected without being followed.
    """
    import h5py

    inside = "NIR data must be stored inside the file"
    stack: list[tuple[str, Any]] = [("", f)]
    seen = 0
    while stack:
        prefix, group = stack.pop()
        for key in group:
            name = f"{prefix}/{key}"
            seen += 1
            if seen > MAX_HDF5_OBJECTS:
                return f"more than {MAX_HDF5_OBJECTS} HDF5 objects (a NIR graph has a few per node)"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                return f"'{name}' is an external link to '{link.filename}'; {inside}"
            if isinstance(link, h5py.SoftLink):
                return f"'{name}' is a soft link to '{link.path}'; {inside}"
            obj = group[key]
            if isinstance(obj, h5py.Dataset):
                if obj.is_virtual:
                    return f"dataset '{name}' is a virtual dataset (data mapped from other files); {inside}"
                if obj.external:
                    return f"dataset '{name}' declares external storage ('{obj.external[0][0]}'); {inside}"
            elif isinstance(obj, h5py.Group):
                stack.append((name, obj))
    return None


def _read_in_child(path: Path) -> tuple[str, Any]:
    """`_read` in a forked child, given READ_SECONDS: HDF5's C code cannot be interrupted in-process.

    The parent receives the NIR node objects the child built (pickled by our own child, holding only
    nir dataclasses and numpy arrays), never anything from the file's bytes directly.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_send_read, args=(str(path), send), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(READ_SECONDS):
            raise NmcError(f"{path}: reading the HDF5 file did not finish in {READ_SECONDS} s: the file is damaged")
        try:
            return receive.recv()
        except (EOFError, OSError):  # the child died (out of memory under --max-model-bytes, a crash in HDF5)
            return "error", "the HDF5 reader failed on this file (damaged, or larger than --max-model-bytes)"
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()


def _send_read(path: str, send: Any) -> None:
    try:
        send.send(_read(path))
    except BaseException as e:  # an unpicklable result, memory: the parent reports it
        send.send(("error", f"{type(e).__name__}"))
    finally:
        send.close()


def flatten_subgraphs(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges with every nested NIRGraph inlined (`outer.inner` names; its Input/Output pass through)."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = flatten_subgraphs(node, full + ".")
            nodes.update(inner_nodes)
            edges += inner_edges
            ins = [n for n in inner_nodes if isinstance(inner_nodes[n], nir.Input) and n.count(".") == full.count(".") + 1]
            outs = [n for n in inner_nodes if isinstance(inner_nodes[n], nir.Output) and n.count(".") == full.count(".") + 1]
            if len(ins) != 1 or len(outs) != 1:
                raise NmcError(f"sub-graph '{full}': needs exactly one Input and one Output node, has {len(ins)} and {len(outs)}")
            entry[full], exit_[full] = ins[0], outs[0]
            for n in (ins[0], outs[0]):
                nodes[n] = ("pass", inner_nodes[n])
        else:
            nodes[full] = node
    for a, b in graph.edges:
        src, dst = prefix + a, prefix + b
        edges.append((exit_.get(src, src), entry.get(dst, dst)))
    return nodes, edges


NEURONS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "I")  # stateful nodes: a loop through one can wait a tick


def order_nodes(
    nodes: dict[str, Any], edges: list[tuple[str, str]]
) -> tuple[list[str], dict[str, list[str]], set[tuple[str, str]]]:
    """Nodes in dataflow order, the producers of each, and the back edges that close loops.

    NIR runs a recurrent graph step by step: a loop reads the previous step's output of the neuron in it. Each cycle
    is cut on an edge leaving a neuron node (that edge carries last tick's spikes: snn.delay, a back edge); a cycle
    through no neuron computes nothing a tick can order and is refused by name.
    """
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in dict.fromkeys(edges):  # exporters sometimes repeat an edge
        for end in (a, b):
            if end not in nodes:
                raise NmcError(f"edge {a} -> {b}: no node named '{end}'")
        if node_kind(nodes[b]) == "Input" and not isinstance(nodes[b], tuple):
            raise NmcError(f"edge {a} -> {b}: '{b}' is the graph's Input, which no edge feeds")
        if node_kind(nodes[a]) == "Output" and not isinstance(nodes[a], tuple):
            raise NmcError(f"edge {a} -> {b}: '{a}' is the graph's Output, which feeds nothing")
        preds[b].append(a)
    done: list[str] = []
    back: set[tuple[str, str]] = set()
    waiting = {n: list(ps) for n, ps in preds.items()}
    while waiting:
        ready = [n for n, ps in waiting.items() if all(p in done for p in ps)]
        if not ready:
            cycle = _a_cycle(waiting)
            cut = next((i for i, n in enumerate(cycle) if node_kind(nodes[n]) in NEURONS), None)
            if cut is None:
                raise NmcError(
                    f"node '{cycle[0]}' ({node_kind(nodes[cycle[0]])}): instantaneous cycle {' -> '.join([*cycle, cycle[0]])}: "
                    "no neuron in it holds state from one tick to the next, so no tick can compute it; put a neuron "
                    "(or a Delay) in the loop"
                )
            src, dst = cycle[cut], cycle[(cut + 1) % len(cycle)]
            back.add((src, dst))
            waiting[dst] = [p for p in waiting[dst] if p != src]
            continue
        for n in ready:
            done.append(n)
            del waiting[n]
    return done, preds, back


def _a_cycle(waiting: dict[str, list[str]]) -> list[str]:
    """A cycle among the waiting nodes, in dataflow order."""
    path, node = [], next(iter(waiting))
    while node not in path:
        path.append(node)
        node = next(p for p in waiting[node] if p in waiting)
    return path[path.index(node) :][::-1]


NORSE_DT = 1e-3  # Norse's default time step, which its exporter multiplies into tau
NORSE_MAX_TAU = 1e-4  # Norse writes tau = dt / tau_mem_inv (1e-5 for its 10 ms default): no real membrane is that fast


def _unit_gain(nodes: dict[str, Any]) -> bool:
    """Every IF/LIF node has input gain r = 1 (the discrete-time exporters' mark)."""
    import nir

    neurons = [n for n in nodes.values() if isinstance(n, nir.IF | nir.LIF)]
    return bool(neurons) and all(np.allclose(np.asarray(n.r, np.float64), 1.0, rtol=1e-6) for n in neurons)


def rockpool_dt(nodes: dict[str, Any]) -> float | None:
    """The dt of a Rockpool LIF export (rockpool 3.1's `to_nir`: docs/nir.md), else None. Rockpool writes each LIF
    as a CubaLIF with w_in = 1 and r = tau_mem e^(-dt/tau_mem) / dt (its exponential decay as a gain), and no dt:
    r u = e^(-u) with u = dt/tau_mem has one root, the same dt for every node."""
    import nir
    from scipy.optimize import brentq

    cubas = [n for n in nodes.values() if isinstance(n, nir.CubaLIF)]
    if not cubas or any(isinstance(n, nir.IF | nir.LIF) for n in nodes.values()):
        return None
    dts = set()
    for n in cubas:
        tau, r = np.ravel(np.asarray(n.tau_mem, np.float64)), np.ravel(np.asarray(n.r, np.float64))
        finite = np.all(np.isfinite(tau)) and np.all(np.isfinite(r))
        if (
            not finite
            or not np.allclose(np.asarray(n.w_in, np.float64), 1.0)
            or tau.size == 0
            or np.any(tau <= 0)
            or np.any(r <= 0)
        ):
            return None  # not Rockpool's pattern (the importer's own checks then name what is wrong)
        for t, g in {(float(a), float(b)) for a, b in zip(tau, r, strict=False)}:
            u = brentq(lambda u, g=g: g * u - np.exp(-u), 1e-12, 50.0)
            dts.add(float(f"{u * t:.5g}"))
    return dts.pop() if len(dts) == 1 else None


def exporter_convention(nodes: dict[str, Any]) -> tuple[float, str] | None:
    """(dt, why) for a graph written by an exporter whose dt is implied, not stated (docs/nir.md):

    * IF nodes only, all with r = 1: a discrete-time exporter (Sinabs' IAF) meaning `v += I` per step, which
      NIR's `dv/dt = r I` gives with dt = 1;
    * LIF nodes with r = 1 and tau < 0.1 ms: Norse, which writes tau = dt / tau_mem_inv with its dt = 1 ms, so
      its own step `v += dt tau_mem_inv (v_leak - v + I)` is NIR's forward Euler at dt = (1 ms)^2 = 1e-6 s.
    """
    import nir

    dt = rockpool_dt(nodes)
    if dt is not None:
        return dt, "CubaLIF nodes with w_in = 1 and r = tau_mem e^(-dt/tau_mem)/dt: Rockpool's export"
    if not _unit_gain(nodes):
        return None
    lifs = [n for n in nodes.values() if isinstance(n, nir.LIF)]
    if not lifs:
        return 1.0, "IF nodes with r = 1 only: a discrete-time export (Sinabs' IAF: v += I per step)"
    if all(float(np.max(np.asarray(n.tau, np.float64))) < NORSE_MAX_TAU for n in lifs):
        why = f"LIF nodes with r = 1 and tau < {NORSE_MAX_TAU:g} s: Norse's export (tau = dt / tau_mem_inv at its dt = 1 ms)"
        return NORSE_DT**2, why
    return None


def node_kind(node: Any) -> str:
    return f"{type(node[1]).__name__}" if isinstance(node, tuple) else type(node).__name__


def choose_dt(nodes: dict[str, Any], given: float | None, metadata: dict, notes: list[str]) -> float:
    """The graph's own dt, else the user's, else an exporter's convention (Sinabs, Norse), else r = tau/dt
    (snnTorch's), else 1 ms."""
    import nir

    if "dt" in (metadata or {}):
        dt = float(np.asarray(metadata["dt"]).ravel()[0])
        notes.append(f"NIR: dt = {dt:g} s from the graph's metadata")
        return dt
    if given is not None:
        notes.append(f"NIR: dt = {given:g} s (--dt)")
        return given
    implied = {  # exporters use round numbers (snnTorch: 1e-4): 6 significant digits undo float32 rounding
        float(f"{np.float32(t) / np.float32(r):.6g}")
        for node in nodes.values()
        if isinstance(node, nir.LIF | nir.CubaLIF)
        for t, r in zip(np.ravel(node.tau if isinstance(node, nir.LIF) else node.tau_mem), np.ravel(node.r), strict=False)
        if np.isfinite(t) and np.isfinite(r) and r != 0  # an infinite tau (snnTorch's beta = 1) is refused by its node
    }
    convention = exporter_convention(nodes)  # before r = tau/dt: Norse's r = 1 would read as dt = tau (no memory)
    if convention is not None:
        dt, why = convention
        notes.append(f"NIR: no dt in the graph; {why}: dt = {dt:g} s (give --dt to override)")
        return dt
    if len(implied) == 1:
        dt = implied.pop()
        notes.append(f"NIR: no dt in the graph; dt = {dt:g} s inferred from r = tau/dt of every LIF and CubaLIF "
                     "(snnTorch's convention)")  # fmt: skip
        return dt
    notes.append(f"NIR: no dt in the graph and none given; assumed dt = {DEFAULT_DT:g} s (give --dt to change it)")
    return DEFAULT_DT
