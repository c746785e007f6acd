"""Data folder, checksums and downloads; no test touches the network (file:// URLs and fakes only)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
from pathlib import Path

import pytest

import unihub.foundation.data.datadir as datadir
from unihub.foundation.data import ChecksumError, MissingDataError, load_card, load_dataset, read_frames, resolve_file
from unihub.foundation.data.archive import tarball_tree_id

FITSNAP_DOC = ('# A comment line\n{"Dataset": {"EnergyStyle": "electronvolt", "StressStyle": "kB", '
               '"Data": [{"AtomTypes": ["Ta", "Ta"], "Lattice": [[3.3, 0, 0], [0, 3.3, 0], [0, 0, 3.3]], '
               '"Positions": [[0, 0, 0], [1.65, 1.65, 1.65]], "Energy": %s, "Forces": [[0.1, 0, 0], [-0.1, 0, 0]], '
               '"Stress": [[10, 0, 0], [0, 10, 0], [0, 0, 10]]}]}}\n')


def test_offline_missing_file_names_dataset_file_and_variable(tmp_path, monkeypatch, shared_data):
    card = load_card("fitsnap_Ta")
    for var in ("UNIHUB_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
        with pytest.raises(MissingDataError) as err:
            resolve_file(card, "JSON.tar.gz", data_dir=tmp_path)
        msg = str(err.value)
        assert "fitsnap_Ta" in msg and "train/fitsnap_Ta/JSON.tar.gz" in msg
        assert "set UNIHUB_DATA to a folder containing train/fitsnap_Ta/JSON.tar.gz" in msg
        monkeypatch.delenv(var)
    assert not any(tmp_path.iterdir())  # nothing created


def test_no_network_is_reported_like_offline(tmp_path, monkeypatch, shared_data):
    def refuse(*a, **k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(datadir.urllib.request, "urlopen", refuse)
    with pytest.raises(MissingDataError, match="UNIHUB_DATA.*train/fitsnap_Ta/JSON.tar.gz"):
        load_dataset("fitsnap_Ta", data_dir=tmp_path)


def test_checksum_mismatch_is_refused(tmp_path, shared_data):
    for name, rel in (("mad_au_alloys", "pbesol_Au_alloys_MAD_compatible.xyz"), ("fitsnap_Ta", "JSON.tar.gz")):
        card = load_card(name)
        dst = tmp_path / card.folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = bytearray((shared_data / card.folder / rel).read_bytes())
        data[len(data) // 2] ^= 0xFF
        dst.write_bytes(bytes(data))
        with pytest.raises(ChecksumError, match="delete it"):
            resolve_file(card, rel, data_dir=tmp_path)


def test_verified_files_are_not_rehashed(tmp_path, monkeypatch, shared_data):
    card = load_card("fitsnap_Ta")
    dst = tmp_path / card.folder / "JSON.tar.gz"
    dst.parent.mkdir(parents=True)
    shutil.copy(shared_data / card.folder / "JSON.tar.gz", dst)
    resolve_file(card, "JSON.tar.gz", data_dir=tmp_path)

    def no_hashing(path):
        raise AssertionError("rehashed a verified file")

    monkeypatch.setattr(datadir, "sha256_file", no_hashing)
    assert resolve_file(card, "JSON.tar.gz", data_dir=tmp_path) == dst
    os.utime(dst, ns=(1, 1))  # a changed mtime invalidates the ledger entry
    with pytest.raises(AssertionError, match="rehashed"):
        resolve_file(card, "JSON.tar.gz", data_dir=tmp_path)


def _write_card(folder: Path, name: str, files: list[dict], reader: str = "fitsnap_json") -> None:
    import yaml

    text = (Path(load_card("fitsnap_Ta").path).read_text())
    meta = yaml.safe_load(text.split("---")[1])
    meta.update(name=name, folder=f"train/{name}", files=files, reader=reader, reader_options={})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n# test\n")


def test_download_of_a_plain_file(tmp_path, monkeypatch):
    src = tmp_path / "remote" / "ta.json"
    src.parent.mkdir()
    src.write_text(FITSNAP_DOC % "-23.5")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    cards = tmp_path / "cards"
    entry = {"path": "ta.json", "url": src.as_uri(), "sha256": digest, "bytes": src.stat().st_size}
    _write_card(cards, "fake", [entry])
    _write_card(cards, "fake_bad", [{**entry, "sha256": "0" * 64}])
    monkeypatch.setenv("UNIHUB_CARDS", str(cards))
    data = tmp_path / "data"
    frames = load_dataset("fake", data_dir=data)
    assert (data / "train/fake/ta.json").read_bytes() == src.read_bytes()
    assert len(frames) == 1 and frames[0].energy == -23.5
    with pytest.raises(ChecksumError, match="refusing"):
        resolve_file(load_card("fake_bad"), "ta.json", data_dir=data)
    assert list((data / "train/fake_bad").iterdir()) == []  # no partial file left behind


def _git_tree_of(root: Path, folder: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "x"]):
        subprocess.run(cmd, cwd=root, check=True, env=env)
    out = subprocess.run(["git", "rev-parse", f"HEAD:{folder}"], cwd=root, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary to compute reference tree ids")
def test_download_of_a_folder_repack_is_verified_by_git_tree(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    files = {"examples/X/JSON/Bulk/a.json": FITSNAP_DOC % "-20.0", "examples/X/JSON/EOS/b.json": FITSNAP_DOC % "-19.0",
             "examples/X/JSON/EOS/run.sh": "#!/bin/sh\n", "examples/X/in.snap": "other file\n", "README": "r\n"}
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "examples/X/JSON/EOS/run.sh").chmod(0o755)  # modes are part of a git tree
    tree = _git_tree_of(repo, "examples/X/JSON")
    tarball = tmp_path / "codeload.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:  # GitHub's layout: everything under '<repo>-<commit>/'
        for rel in files:
            tf.add(repo / rel, arcname=f"repo-0123abc/{rel}")
    cards = tmp_path / "cards"
    entry = {"path": "JSON.tar.gz", "url": tarball.as_uri(), "archive_of": "examples/X/JSON", "git_tree": tree,
             "sha256": "f" * 64, "bytes": 1}  # a repack has no canonical bytes: the tree decides
    _write_card(cards, "fakearchive", [entry])
    _write_card(cards, "fakearchive_bad", [{**entry, "git_tree": "0" * 40}])
    monkeypatch.setenv("UNIHUB_CARDS", str(cards))
    data = tmp_path / "data"
    frames = load_dataset("fakearchive", data_dir=data)
    packed = data / "train/fakearchive/JSON.tar.gz"
    with tarfile.open(packed) as tf:
        assert sorted(tf.getnames()) == ["JSON/Bulk/a.json", "JSON/EOS/b.json", "JSON/EOS/run.sh"]
    assert tarball_tree_id(packed, "JSON") == tree
    assert sorted((f.group, f.energy) for f in frames) == [("Bulk", -20.0), ("EOS", -19.0)]
    datadir._ledger_path().unlink()  # forget it: the tree alone must re-verify the repack
    resolve_file(load_card("fakearchive"), "JSON.tar.gz", data_dir=data)
    with pytest.raises(ChecksumError, match="git tree"):
        resolve_file(load_card("fakearchive_bad"), "JSON.tar.gz", data_dir=data)


def test_shared_folder_repacks_have_the_github_tree_ids(shared_data):
    for name, rel in (("fitsnap_Fe", "JSON.tar.gz"), ("fitsnap_InP", "JSON.tar.gz"),
                      ("acwf_eos", "xsfs-unaries-verification-PBE-v1.tar.gz"),
                      ("acwf_eos", "xsfs-oxides-verification-PBE-v1.tar.gz")):
        card = load_card(name)
        f = card.file(rel)
        assert tarball_tree_id(shared_data / card.folder / rel, Path(f.archive_of).name) == f.git_tree


def test_data_root_and_no_import_side_effects(tmp_path, monkeypatch):
    monkeypatch.delenv("UNIHUB_DATA", raising=False)
    monkeypatch.delenv("UNIHUB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datadir.data_root() == tmp_path / "xdg" / "unihub" / "data"
    monkeypatch.setenv("UNIHUB_CACHE", str(tmp_path / "uc"))
    assert datadir.data_root() == tmp_path / "uc" / "data"
    monkeypatch.delenv("UNIHUB_CACHE")
    monkeypatch.setenv("UNIHUB_DATA", str(tmp_path / "d"))
    assert datadir.data_root() == (tmp_path / "d").resolve()
    env = {k: v for k, v in os.environ.items() if k not in ("UNIHUB_DATA", "UNIHUB_CACHE")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = "import unihub.foundation.data, unihub.foundation.data.pack; unihub.foundation.data.list_cards()"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).resolve().parents[2])
    assert not (tmp_path / "home").exists() and not (tmp_path / "cache").exists()


def test_ledger_writes_are_atomic_json(tmp_path, shared_data):
    card = load_card("fitsnap_Ta")
    resolve_file(card, "JSON.tar.gz")
    ledger = json.loads(datadir._ledger_path().read_text())
    entry = ledger[str((shared_data / card.folder / "JSON.tar.gz").resolve())]
    assert entry["sha256"] == card.files[0].sha256
    assert not [p for p in datadir._ledger_path().parent.iterdir() if p.name.startswith(".verified-")]


def test_read_frames_refuses_missing_and_unknown(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_frames(tmp_path / "nope.xyz")
    (tmp_path / "x.cif").write_text("data_x\n")
    with pytest.raises(ValueError, match="pass format="):
        read_frames(tmp_path / "x.cif")
    (tmp_path / "odd.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="cannot tell which JSON layout"):
        read_frames(tmp_path / "odd.json")


def test_a_file_made_here_is_found_in_the_cache(tmp_path, monkeypatch, shared_data):
    """Generated data (teacher labels) live in <cache>/data even when UNIHUB_DATA names read-only shared data."""
    card = load_card("srhfo_mp_tasks")
    src = shared_data / card.folder / card.files[0].path
    cache = tmp_path / "cache"
    made = cache / "data" / card.folder / card.files[0].path
    made.parent.mkdir(parents=True)
    made.write_bytes(src.read_bytes())
    monkeypatch.setenv("UNIHUB_CACHE", str(cache))
    assert datadir.resolve_file(card, card.files[0], data_dir=tmp_path / "empty") == made
    made.write_bytes(src.read_bytes()[:-10])  # a damaged copy is refused, not read
    with pytest.raises(datadir.ChecksumError):
        datadir.resolve_file(card, card.files[0], data_dir=tmp_path / "empty")
