"""torch.export archives (.pt2) never run code they carry (each payload location of torch 2.13's loader)."""

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
from nmc.frontends.torch_import import load_model


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
