"""The zoo resolves names, refuses bad checksums, loads offline from a Hub cache, and publishes."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from hub_cache import make_hf_cache

from unihub.foundation.files import ChecksumError, read_manifest
from unihub.zoo import list_models, load_model


def energies(model, structs):
    return np.array([r["energy"] for r in model.predict(structs)])


STRUCTS = [bulk("Si", "diamond", 5.43), bulk("Cu", "fcc", 3.61) * (2, 1, 1), bulk("Al", "fcc", 4.05)]


def test_save_load_round_trip(tiny_model, tmp_path):
    d = tiny_model.save(tmp_path / "m")
    assert set(read_manifest(d)) == {"model.safetensors", "config.json", "README.md"}
    loaded = load_model(d)
    np.testing.assert_allclose(energies(loaded, STRUCTS), energies(tiny_model, STRUCTS), rtol=1e-6)
    assert loaded.card["title"] == "tiny test model"
    assert "unihub" in loaded.card["tags"]


def test_registry_names_aliases_and_close_matches(tiny_model, tmp_path, registry_file):
    from unihub.foundation.files import sha256_file

    d = tiny_model.save(tmp_path / "m")
    files = {n: sha256_file(d / n) for n in ("model.safetensors", "config.json")}
    registry_file({"tiny-v0": {"location": str(d), "files": files, "aliases": ["Tiny"], "kind": "universal",
                               "default_head": "pbesol"}})
    assert any(m["name"] == "tiny-v0" for m in list_models())
    m = load_model("TINY")  # alias, case-insensitive
    assert m.name == "tiny-v0" and m.config.default_fidelity == "pbesol"
    with pytest.raises(ValueError, match="did you mean 'tiny-v0'"):
        load_model("tiny-v1")
    with pytest.raises(ValueError, match="unknown model 'zzzzzz'"):
        load_model("zzzzzz")
    with pytest.raises(ValueError, match="unknown fidelity head"):
        load_model("tiny-v0", head="hse")


def test_checksum_mismatch_refuses_to_load(tiny_model, tmp_path):
    d = tiny_model.save(tmp_path / "m")
    w = d / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="model.safetensors"):
        load_model(d)


def test_offline_load_from_hub_cache(tiny_model, tmp_path, hf_cache):
    d = tiny_model.save(tmp_path / "m")
    make_hf_cache(hf_cache, "unihub/tiny", d)
    m = load_model("hf://unihub/tiny")  # HF_HUB_OFFLINE=1: must come from the cache
    np.testing.assert_allclose(energies(m, STRUCTS), energies(tiny_model, STRUCTS), rtol=1e-6)
    m2 = load_model("hf://unihub/tiny@main")
    assert m2.name == "tiny"
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        load_model("hf://unihub/absent")


def test_corrupt_cached_file_is_not_reused(tiny_model, tmp_path, hf_cache, registry_file):
    from unihub.foundation.files import sha256_file

    d = tiny_model.save(tmp_path / "m")
    files = {n: sha256_file(d / n) for n in ("model.safetensors", "config.json")}
    corrupt = tmp_path / "corrupt"
    shutil.copytree(d, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not weights")
    make_hf_cache(hf_cache, "unihub/tiny", corrupt)
    registry_file({"tiny-hub": {"location": "hf://unihub/tiny", "files": files}})
    with pytest.raises(ChecksumError):
        load_model("tiny-hub")
    snap = next((hf_cache / "models--unihub--tiny" / "snapshots").iterdir())
    assert not (snap / "model.safetensors").exists()  # removed, so a retry downloads afresh


class FakeApi:
    """Captures HfApi calls; upload_folder lays the files out as a Hub cache would after download."""

    def __init__(self, cache: Path) -> None:
        self.cache, self.calls = cache, []

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def upload_folder(self, repo_id, folder_path, commit_message=None, repo_type=None):
        self.calls.append(("upload_folder", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
        make_hf_cache(self.cache, repo_id, Path(folder_path), commit="b" * 40)
        return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{'b' * 40}"})()


def test_publish_round_trip(tiny_model, hf_cache):
    api = FakeApi(hf_cache)
    url = tiny_model.push_to_hub("someone/tiny-pub", private=True, api=api)
    assert url.endswith("b" * 40)
    assert api.calls[0] == ("create_repo", "someone/tiny-pub", True, True)
    assert api.calls[1][2] == ["README.md", "checksums.json", "config.json", "model.safetensors"]
    back = load_model("hf://someone/tiny-pub")
    np.testing.assert_allclose(energies(back, STRUCTS), energies(tiny_model, STRUCTS), rtol=1e-6)
    assert back.card["library_name"] == "unihub"


def test_relax_and_md_helpers(tiny_model):
    from unihub.foundation.simulate import md, relax

    atoms = bulk("Cu", "fcc", 3.7) * (2, 2, 2)
    atoms.rattle(0.05, seed=0)
    before = np.abs(tiny_model.predict([atoms])[0]["forces"]).max()
    out = relax(atoms, fmax=0.01, steps=300, calculator=tiny_model.calculator(), progress=False)
    assert out["fmax"] < before
    trace = md(atoms, 300, 40, ensemble="nve", calculator=tiny_model.calculator(), loginterval=5, progress=False)
    assert len(trace["energy"]) >= 8 and np.isfinite(trace["drift_ev_per_atom_ps"])
    with pytest.raises(ValueError, match="unknown ensemble"):
        md(atoms, 300, 1, ensemble="nph", calculator=tiny_model.calculator())


def test_url_location_downloads_and_checks(tiny_model, tmp_path, monkeypatch):
    """A model folder served over HTTP (a local server on 127.0.0.1) loads; a tampered file is refused."""
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    tiny_model.save(site / "tiny")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("UNIHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("UNIHUB_OFFLINE", raising=False)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tiny"
        m = load_model(url)
        np.testing.assert_allclose(energies(m, STRUCTS), energies(tiny_model, STRUCTS), rtol=1e-6)
        (site / "tiny" / "config.json").write_text((site / "tiny" / "config.json").read_text() + " ")
        shutil.rmtree(tmp_path / "cache")
        with pytest.raises(ChecksumError):
            load_model(url)
    finally:
        server.shutdown()


def test_local_loading_is_explicit(tiny_model, tmp_path, monkeypatch, registry_file):
    """Registry names win over a same-named folder; unverified folders say so; '' is refused."""
    import torch

    from unihub.foundation.files import sha256_file

    d = tiny_model.save(tmp_path / "reg")
    registry_file({"tiny-v0": {"location": str(d), "files": {n: sha256_file(d / n) for n in
                                                              ("model.safetensors", "config.json")}}})
    monkeypatch.chdir(tmp_path)
    shadow = tiny_model.save(tmp_path / "tiny-v0")
    (shadow / "checksums.json").unlink()
    data = bytearray((shadow / "model.safetensors").read_bytes())
    data[-1] ^= 0x01  # a flipped byte that no checksum can catch any more
    (shadow / "model.safetensors").write_bytes(bytes(data))
    m = load_model("tiny-v0")
    assert m.verified and m.name == "tiny-v0"
    same = [torch.equal(a, b) for a, b in zip(m.state_dict().values(), tiny_model.state_dict().values(), strict=True)]
    assert all(same)  # the registry's verified folder, not ./tiny-v0
    with pytest.warns(UserWarning, match="not verified"):
        local = load_model("./tiny-v0")
    assert local.verified is False and local.name == "./tiny-v0 (unverified)"
    assert not all(torch.equal(a, b) for a, b in zip(local.state_dict().values(), tiny_model.state_dict().values()))
    assert load_model(d).verified is True
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="needs a model name"):
            load_model(bad)


def test_load_model_arguments_are_checked(tiny_model, tmp_path):
    import torch

    d = tiny_model.save(tmp_path / "m")
    assert load_model(d, dtype="double").reference_energies.dtype == torch.float64
    with pytest.raises(ValueError, match="dtype 'float16' is not supported"):
        load_model(d, dtype="float16")
    assert load_model(d, head=1).config.default_fidelity == tiny_model.config.fidelities[1]
    with pytest.raises(TypeError, match="head must be a head name"):
        load_model(d, head=True)
    with pytest.raises(ValueError, match="only for MTP students"):
        load_model(d, elements=["Si"])
