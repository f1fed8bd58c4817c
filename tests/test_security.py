"""Hostile input never runs code or reads other files: torch.export archives (.pt2), NIR/HDF5 files, and
nmc-search's parallel trials (no network listener). Every payload here is shown to be live against the
unguarded library where that is safe to do, and refused by nmc through each door: nmc-compile,
nmc-compile --explain and nmc.compile(path) — one line, exit status != 0, no marker file, no output."""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from nmc.errors import NmcError
from nmc.frontends.safe_pt2 import torch_logs_quiet
from nmc.frontends.torch_import import load_model

from .conftest import run_tool


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def clean_archive(tmp_path_factory) -> Path:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    path = tmp_path_factory.mktemp("pt2") / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), str(path))
    return path


def rewrite(src: Path, dst: Path, edit) -> Path:
    """Copy a zip archive, letting `edit(name, data)` replace entries (None drops one) and add some."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        extra = edit(None, None) or {}
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in extra.items():
            zout.writestr(name, data)
    return dst


def pickled(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_clean_archive_loads(clean_archive):
    ep = load_model(clean_archive)
    assert isinstance(ep, torch.export.ExportedProgram)


def test_payload_in_sample_inputs_never_runs(clean_archive, tmp_path):
    marker = tmp_path / "pwned"
    blob = pickled(((torch.zeros(1, 4), Payload(marker)), {}))

    def edit(name, data):
        return blob if name and name.endswith("sample_inputs/model.pt") else data

    evil = rewrite(clean_archive, tmp_path / "evil.pt2", edit)
    with pytest.raises(NmcError, match=r"evil.pt2: refused to load '(posix|os)\.system' from the archive's pickled data"):
        load_model(evil)
    assert not marker.exists()
    # the payload is live: torch's own loader runs it through its weights_only=False fallback
    with contextlib.suppress(Exception):
        torch.export.load(str(evil))
    assert marker.exists()


def test_payload_in_pickled_weight_never_runs(clean_archive, tmp_path):
    marker = tmp_path / "pwned"

    def edit(name, data):
        if name is None:
            return None
        if name.endswith("model_weights_config.json"):
            cfg = json.loads(data)
            first = next(iter(cfg["config"].values()))
            first["use_pickle"] = True
            return json.dumps(cfg).encode()
        if name.endswith("data/weights/weight_0"):
            return pickled(Payload(marker))
        return data

    evil = rewrite(clean_archive, tmp_path / "weights.pt2", edit)
    with pytest.raises(NmcError, match=r"refused to load '(posix|os)\.system'"):
        load_model(evil)
    assert not marker.exists()


def test_custom_and_opaque_objects_are_refused_before_loading(clean_archive, tmp_path):
    marker = tmp_path / "pwned"
    prefix = zipfile.ZipFile(clean_archive).namelist()[0].split("/")[0]
    import pickle

    for entry in ("custom_obj_0", "opaque_obj_0"):

        def edit(name, data, entry=entry):
            if name is None:
                return {f"{prefix}/data/constants/{entry}": pickle.dumps(Payload(marker))}
            if name.endswith("model_constants_config.json"):
                cfg = {"config": {"c": {"path_name": entry, "is_param": False, "use_pickle": True, "tensor_meta": None}}}
                return json.dumps(cfg).encode()
            return data

        evil = rewrite(clean_archive, tmp_path / f"{entry}.pt2", edit)
        with pytest.raises(NmcError, match=rf"refused '.*{entry}': custom or opaque objects"):
            load_model(evil)
        assert not marker.exists()


@pytest.mark.parametrize("template", ["__import__('os').system('touch {m}')", "open('{m}', 'w')"])
def test_symbolic_expression_with_code_is_refused(clean_archive, tmp_path, template):
    marker = tmp_path / "pwned"
    code = template.format(m=marker)

    def edit(name, data):
        if name and name.endswith("models/model.json"):
            doc = json.loads(data)
            doc.setdefault("graph_module", {}).setdefault("graph", {})["sym_int_values"] = {
                "s0": {"as_expr": {"expr_str": code, "hint": None}}
            }
            return json.dumps(doc).encode()
        return data

    evil = rewrite(clean_archive, tmp_path / "expr.pt2", edit)
    with pytest.raises(NmcError, match=r"refused symbolic expression .*only arithmetic"):
        load_model(evil)
    assert not marker.exists()


def test_damaged_archive_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(NmcError, match=r"bad.pt2: not a readable torch.export archive"):
        load_model(bad)


# --- the three routes of issue #37: guard code, AOTInductor libraries, the legacy layout -----------------


def _guard_payload(clean: Path, dst: Path, marker: Path) -> Path:
    """A guard string whose newline escapes `def _(*args):` into module-level code of torch's `exec`."""
    guard = f"1 #\n, '')\nimport os; os.system('touch {marker}')\ndef _y(*args):\n  torch._assert(1"

    def edit(name, data):
        if name and name.endswith("models/model.json"):
            doc = json.loads(data)
            doc["guards_code"] = [guard]
            return json.dumps(doc).encode()
        return data

    return rewrite(clean, dst, edit)


def _shared_library(tmp: Path, marker: Path) -> bytes | None:
    """A shared library whose constructor creates `marker` when it is loaded (None without a C compiler)."""
    import shutil
    import subprocess

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src = tmp / "payload.c"
    src.write_text(f'#include <stdlib.h>\n__attribute__((constructor)) static void f(void) {{ system("touch {marker}"); }}\n')
    lib = tmp / "payload.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True)
    return lib.read_bytes()


def _aoti_payload(clean: Path, dst: Path, marker: Path) -> Path:
    library = _shared_library(dst.parent, marker) or b"\x7fELF not a real library"
    prefix = zipfile.ZipFile(clean).namelist()[0].split("/")[0]

    def edit(name, data):
        if name is None:
            folder = f"{prefix}/data/aotinductor/model"
            return {f"{folder}/model.wrapper.so": library, f"{folder}/model.wrapper_metadata.json": b'{"AOTI_DEVICE_KEY": "cpu"}'}
        return data

    return rewrite(clean, dst, edit)


def _legacy_payload(clean: Path, dst: Path, marker: Path) -> Path:
    """torch 2.7's layout (root-level version + serialized_exported_program.json): torch's fallback reader
    sympifies the input's symbolic size."""
    from torch._export.serde.schema import SCHEMA_VERSION

    with zipfile.ZipFile(clean) as z:
        doc = json.loads(next(z.read(n) for n in z.namelist() if n.endswith("models/model.json")))
    size = {"as_expr": {"expr_str": f"__import__('os').system('touch {marker}')", "hint": {"as_int": 1}}}
    doc["graph_module"]["graph"]["tensor_values"]["input"]["sizes"][0] = size
    ep = torch.export.load(str(clean))
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("version", ".".join(map(str, SCHEMA_VERSION)))
        z.writestr("serialized_exported_program.json", json.dumps(doc))
        z.writestr("serialized_state_dict.pt", pickled(dict(ep.state_dict)))
        z.writestr("serialized_constants.pt", pickled({}))
        z.writestr("serialized_example_inputs.pt", pickled(((torch.zeros(1, 4),), {})))
    return dst


ROUTES = {
    "guards": (_guard_payload, r"refused guard code .* torch runs it as Python"),
    "aoti": (_aoti_payload, r"refused 'data/aotinductor/model/model.wrapper(_metadata.json|.so)': AOTInductor compiled code"),
    "legacy": (_legacy_payload, r"refused '(version|serialized_\w+\.(json|pt))': the torch 2\.7 legacy archive layout"),
}


@pytest.mark.parametrize("route", ROUTES)
def test_each_route_is_live_against_torch_itself(clean_archive, tmp_path, route):
    """The payloads are real: torch's own loader runs them (so the refusals below prove something)."""
    marker = tmp_path / "pwned"
    evil = ROUTES[route][0](clean_archive, tmp_path / f"{route}.pt2", marker)
    if route == "aoti" and _shared_library(tmp_path, tmp_path / "probe") is None:
        pytest.skip("no C compiler to build the payload library")
    with contextlib.suppress(Exception), torch_logs_quiet():
        ep = torch.export.load(str(evil))
        ep.module()  # the guard route runs here
    assert marker.exists()


@pytest.mark.parametrize("door", ["nmc-compile", "--explain", "nmc.compile"])
@pytest.mark.parametrize("route", ROUTES)
def test_no_route_runs_code_through_any_door(clean_archive, tmp_path, route, door):
    marker = tmp_path / "pwned"
    make, pattern = ROUTES[route]
    evil = make(clean_archive, tmp_path / f"{route}.pt2", marker)
    out = tmp_path / "out"
    if door == "nmc.compile":
        import nmc

        with pytest.raises(NmcError, match=pattern):
            nmc.compile(str(evil))
    else:
        args = [str(evil), "-o", str(out)] if door == "nmc-compile" else ["--explain", str(evil)]
        _assert_one_line_refusal(run_tool("nmc-compile", *args), pattern)
    assert not marker.exists()
    assert not out.exists()


def test_unknown_members_layouts_and_versions_fail_closed(clean_archive, tmp_path):
    prefix = zipfile.ZipFile(clean_archive).namelist()[0].split("/")[0]
    cases = {
        "member": ({f"{prefix}/data/executorch/model.pte": b"x"}, None, r"refused 'data/executorch/model.pte': .*unknown member"),
        "program": ({f"{prefix}/models/other.json": b"{}"}, None, r"refused 'models/other.json': nmc reads one program"),
        "version": ({}, ("archive_version", b"7"), r"'archive_version' is '7', nmc reads '0'"),
        "field": ({}, ("models/model.json", "exec_me"), r"refused field 'exec_me' in 'models/model.json'"),
        "operator": ({}, ("models/model.json", "torch.load"), r"refused operator 'torch.load' in 'models/model.json'"),
    }
    for case, (extra, change, pattern) in cases.items():

        def edit(name, data, extra=extra, change=change):
            if name is None:
                return extra
            if change and name.endswith(change[0]):
                if change[0] == "archive_version":
                    return change[1]
                doc = json.loads(data)
                if change[1] == "torch.load":
                    doc["graph_module"]["graph"]["nodes"][0]["target"] = "torch.load"
                else:
                    doc[change[1]] = "x"
                return json.dumps(doc).encode()
            return data

        evil = rewrite(clean_archive, tmp_path / f"{case}.pt2", edit)
        with pytest.raises(NmcError, match=pattern):
            load_model(evil)


def test_dynamic_batch_archives_still_load(tmp_path):
    """The vetting keeps what ordinary exports hold: symbolic batch sizes and their range constraints."""
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    path = tmp_path / "dyn.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(4, 4),), dynamic_shapes=((batch, None),)), str(path))
    ep = load_model(path)
    assert [str(s) for s in ep.range_constraints] == ["s77"] or len(ep.range_constraints) == 1
    torch.testing.assert_close(ep.module()(torch.ones(3, 4)), model(torch.ones(3, 4)))


# --- NIR / HDF5: nothing stored outside the file ---------------------------------------------------------


def _nir_with(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A small NIR graph whose Affine weight is replaced by data kept outside the file."""
    import h5py
    import nir
    import numpy as np

    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(6, dtype=np.float32).tobytes())
    graph = nir.NIRGraph.from_list(
        nir.Affine(np.ones((2, 3), np.float32), np.zeros(2, np.float32)), nir.IF(np.ones(2), np.ones(2))
    )
    path = tmp_path / f"{kind}.nir"
    nir.write(str(path), graph)
    with h5py.File(path, "a") as f:
        group = f["node/nodes/affine"]
        del group["weight"]
        if kind == "external":
            group.create_dataset("weight", shape=(2, 3), dtype="<f4", external=[(str(secret), 0, 24)])
        elif kind == "virtual":
            with h5py.File(tmp_path / "other.h5", "w") as other:
                other["w"] = np.full((2, 3), 7.0, np.float32)
            layout = h5py.VirtualLayout(shape=(2, 3), dtype="<f4")
            layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "w", shape=(2, 3))
            group.create_virtual_dataset("weight", layout)
        elif kind == "external_link":
            with h5py.File(tmp_path / "other.h5", "w") as other:
                other["w"] = np.full((2, 3), 7.0, np.float32)
            group["weight"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "w")
        else:
            f["stash"] = np.full((2, 3), 7.0, np.float32)
            group["weight"] = h5py.SoftLink("/stash")
    return path, secret


NIR_CASES = {
    "external": r"dataset '/node/nodes/affine/weight' declares external storage \('.*secret.bin'\)",
    "virtual": r"dataset '/node/nodes/affine/weight' is a virtual dataset",
    "external_link": r"'/node/nodes/affine/weight' is an external link to '.*other.h5'",
    "soft_link": r"'/node/nodes/affine/weight' is a soft link to '/stash'",
}


@pytest.mark.parametrize("kind", NIR_CASES)
def test_nir_data_stored_outside_the_file_is_refused_naming_the_dataset(tmp_path, kind):
    import nir

    path, _ = _nir_with(tmp_path, kind)
    if kind == "external":  # live: the unguarded reader pulls the other file's bytes into the weights
        assert nir.read(str(path), type_check=False).nodes["affine"].weight.ravel().tolist() == [0, 1, 2, 3, 4, 5]
    out = tmp_path / "out"
    run = run_tool("nmc-compile", str(path), "-o", str(out))
    _assert_one_line_refusal(run, rf"{kind}.nir: refused: " + NIR_CASES[kind] + ".*stored inside the file")
    assert not out.exists()


# --- nmc-search: no listener outside loopback, no unauthenticated cluster, no printed passwords -------------


def _listeners_of_this_process_tree() -> tuple[set[int], list[str]]:
    """This process and its descendants, and the listening TCP sockets (hex address:port) they own, from /proc."""
    import re

    pids = {os.getpid()}
    for _ in range(4):  # children, grandchildren, ...
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if ppid in pids:
                    pids.add(int(stat.parent.name))
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            with contextlib.suppress(OSError):
                m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                if m:
                    inodes.add(m.group(1))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # state LISTEN
                    found.append(cols[1])
    return pids, found


def _is_loopback(hex_address: str) -> bool:
    ip = hex_address.split(":")[0]
    if len(ip) == 8:  # IPv4, little-endian: 127.x.x.x
        return ip.endswith("7F")
    return ip == "00000000000000000000000001000000" or ip.endswith("0000FFFF0100007F")


def test_a_local_parallel_search_opens_no_network_listener(tmp_path):
    from nmc.nas.search import search

    space = tmp_path / "space.toml"
    space.write_text(SEARCH_SPACE)
    seen: list[list[str]] = []
    processes: list[int] = []

    def progress(line: str) -> None:
        if line.startswith("trial "):
            pids, listeners = _listeners_of_this_process_tree()
            seen.append(listeners)
            processes.append(len(pids))

    data = Path(__file__).parent.parent / "examples" / "search" / "digits.npz"
    search(space, data, "tianjic256", trials=2, parallel=2, outdir=tmp_path / "s", seed=0, progress=progress)
    assert len(seen) == 2
    assert min(processes) >= 3, processes  # the two worker processes were alive when looked at
    assert all(_is_loopback(a) for snapshot in seen for a in snapshot), seen
    assert all(snapshot == [] for snapshot in seen), seen  # not even on loopback


def test_joining_a_ray_cluster_without_a_token_is_refused(tmp_path, monkeypatch):
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    data = Path(__file__).parent.parent / "examples" / "search" / "digits.npz"
    space = Path(__file__).parent.parent / "examples" / "search" / "digits.toml"
    run = run_tool("nmc-search", "--space", str(space), "--data", str(data), "--ray", "10.0.0.1:6379", "-o", str(tmp_path / "o"))
    _assert_one_line_refusal(run, r"--ray 10\.0\.0\.1:6379: joining a Ray cluster needs its authentication token")
    assert os.environ.get("RAY_AUTH_MODE") != "disabled"


def test_storage_urls_are_printed_without_their_password():
    from nmc.nas.runner import redacted

    assert redacted("postgresql://nmc:s3cret@db.example:5432/study") == "postgresql://nmc:***@db.example:5432/study"
    assert redacted("sqlite:////tmp/x/study.db") == "sqlite:////tmp/x/study.db"


SEARCH_SPACE = """
[input]
shape = [64]
[search]
families = ["mlp"]
neuron = ["if"]
ticks = [8]
[mlp]
depth = { low = 1, high = 1 }
width = [16]
[train]
epochs = 1
finetune_epochs = 0
"""


def _assert_one_line_refusal(run, pattern: str) -> None:
    import re

    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert re.search(pattern, lines[0]), lines[0]
