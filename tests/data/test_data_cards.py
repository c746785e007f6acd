"""Cards parse, agree with the shared MANIFEST, and pin the files actually on disk."""

from __future__ import annotations

import hashlib

import pytest

from unihub.foundation.data import READERS, UnknownCardError, list_cards, load_card
from unihub.foundation.data.cards import REQUIRED_KEYS, split_front_matter
from unihub.foundation.data.datadir import resolve_file, sha256_file

TRAIN = {"mad_subset", "mad_au_alloys", "oc20_traj", "matpes_element_refs", "diatomics", "fitsnap_WBe",
         "fitsnap_Fe", "fitsnap_InP", "fitsnap_Ta", "nbmotaw", "mlearn", "mptrj_highest_stress", "mattersim_mpf_tp"}
BENCH = {"wbm_random_1000", "mp_binary_elasticity", "alexandria_phonon", "acwf_eos", "jarvis_vacancy",
         "kappa103", "mp_elemental_refs", "mattersim_ood"}
FINETUNE = {"srhfo_mp_tasks", "ymgpo_insertion"}
ALL = TRAIN | BENCH | FINETUNE


def test_every_dataset_has_a_card_with_the_exact_schema():
    assert set(list_cards("train")) == TRAIN
    assert set(list_cards("bench")) == BENCH
    assert set(list_cards("finetune")) == FINETUNE
    for name in ALL:
        card = load_card(name)
        meta, prose = split_front_matter(card.path.read_text())
        assert list(meta) == list(REQUIRED_KEYS), name
        assert "## Licence" in prose and "## Citation" in prose, name
        assert card.reader is None or card.reader in READERS
        for f in card.files:
            key, _ = card.reader_for(f)
            assert key is None or key in READERS
            if f.archive_of:
                assert f.url.startswith("https://codeload.github.com/") and len(f.git_tree) == 40
            elif f.derived_from:  # converted, not copied: no URL serves it; every source named by blob id
                assert f.url is None and f.derived_from["sources"]
                assert all(len(s["git_blob"]) == 40 for s in f.derived_from["sources"])
            else:
                assert f.url.startswith("https://raw.githubusercontent.com/") and f.url.endswith(f.path.split("/")[-1])


def test_fidelity_choices():
    fid = {n: load_card(n).fidelity for n in ALL}
    assert fid["mad_subset"] == fid["mad_au_alloys"] == "pbesol"
    assert fid["oc20_traj"] == "rpbe" and fid["fitsnap_InP"] == "lda" and fid["jarvis_vacancy"] == "optb88vdw"
    assert fid["matpes_element_refs"] == fid["diatomics"] == "mixed"
    assert {fid[n] for n in ("mlearn", "nbmotaw", "fitsnap_WBe", "fitsnap_Fe", "fitsnap_Ta")} == {"pbe"}
    assert load_card("mad_au_alloys").reader_options["energy_key"] == "REF_cohesion_energy"
    assert {load_card(n).energy_reference for n in ("mad_subset", "mad_au_alloys")} == {"cohesive"}
    mptrj = ("mptrj_highest_stress", "mattersim_mpf_tp", "mattersim_ood", *FINETUNE)
    assert {fid[n] for n in mptrj} == {"mptrj"}


def test_cards_match_manifest(manifest):
    assert set(manifest) == ALL
    for name, entry in manifest.items():
        card = load_card(name)
        assert card.folder == entry["folder"]
        assert card.counts == {"frames": entry["n_frames"], "atoms": entry["n_atoms_total"]}
        assert list(card.elements) == entry["elements"]
        assert {f.path: (f.sha256, f.bytes) for f in card.files} == {
            f["name"]: (f["sha256"], f["bytes"]) for f in entry["files"]}


def test_every_card_file_matches_the_shared_data(shared_data):
    for name in sorted(ALL):
        card = load_card(name)
        for f in card.files:
            path = shared_data / card.folder / f.path
            assert path.stat().st_size == f.bytes, path
            assert sha256_file(path) == f.sha256, path
            assert resolve_file(card, f) == path  # verified through the front door too


def test_unknown_card_names_close_matches():
    with pytest.raises(UnknownCardError, match="did you mean mlearn"):
        load_card("mlern")
    with pytest.raises(UnknownCardError, match="fitsnap_Ta"):
        load_card("fitsnap_ta")


def test_card_sha256_is_of_the_card_file():
    card = load_card("fitsnap_Ta")
    assert card.sha256 == hashlib.sha256(card.path.read_bytes()).hexdigest()


def test_overrides_select_reader_and_options():
    card = load_card("mlearn")
    key, opts = card.reader_for("alignn_mlearn_data/Cu/id_prop.json")
    assert key == "alignn_id_prop" and opts["max_entries"] == {"Cu": 262, "Ni": 263}
    key, opts = card.reader_for("Mo/test.json")
    assert key == "mlearn_json" and opts["voigt_order"]["Mo"] == "xx yy zz xy zx yz"
    acwf = load_card("acwf_eos")
    assert acwf.reader_for("xsfs-oxides-verification-PBE-v1.tar.gz")[0] is None


def test_bad_cards_are_refused(tmp_path, monkeypatch):
    good = load_card("fitsnap_Ta").path.read_text()
    sha = load_card("fitsnap_Ta").files[0].sha256
    monkeypatch.setenv("UNIHUB_CARDS", str(tmp_path))
    (tmp_path / "broken.md").write_text(good.replace("name: fitsnap_Ta", "name: broken").replace(
        "fidelity: pbe", "fidelity: b3lyp"))
    with pytest.raises(ValueError, match="fidelity must be one of"):
        load_card("broken")
    (tmp_path / "noreader.md").write_text(good.replace("name: fitsnap_Ta", "name: noreader").replace(
        "reader: fitsnap_json", "reader: nope"))
    with pytest.raises(ValueError, match="not in READERS"):
        load_card("noreader")
    (tmp_path / "open.md").write_text("---\nname: open\n")
    with pytest.raises(ValueError, match="not closed"):
        load_card("open")
    (tmp_path / "unpinned.md").write_text(good.replace("name: fitsnap_Ta", "name: unpinned").replace(
        f"sha256: {sha}", "sha256: null"))
    with pytest.raises(ValueError, match="needs its sha256 .only external cards"):
        load_card("unpinned")


def test_external_card_names_the_official_wbm_summary():
    """The one file that is not in the shared data: its URL is matbench-discovery's, its checksum not yet known."""
    assert list_cards("external") == ["wbm_summary"]
    card = load_card("wbm_summary")
    (f,) = card.files
    assert f.url == "https://figshare.com/ndownloader/files/44225498" and f.sha256 is None
    from unihub.eval.suites.wbm import SUMMARY_COLUMNS

    assert all(c in card.prose for c in SUMMARY_COLUMNS)


def test_no_training_frame_comes_from_a_benchmark_material(shared_data, dataset):
    """MPtrj trajectories whose MP material a benchmark holds are listed in the card and dropped by the reader."""
    import gzip
    import json

    from ase.io import iread

    card = load_card("mptrj_highest_stress")
    bench_ids = set()
    for name in ("mp_binary_elasticity", "alexandria_phonon", "wbm_random_1000"):
        c = load_card(name)
        for f in c.files:
            for rec in json.loads(gzip.open(shared_data / c.folder / f.path).read()):
                bench_ids.update(str(rec[k]) for k in ("mp_id", "material_id") if k in rec)
    ood = load_card("mattersim_ood")
    for at in iread(str(shared_data / ood.folder / "mptrj-random-1k.xyz"), index=":"):
        bench_ids.add(str(at.info["mptrj_traj_id"]))
    path = shared_data / card.folder / card.files[0].path
    raw = [str(at.info["mptrj_traj_id"]) for at in iread(str(path), index=":")]
    overlap = set(raw) & bench_ids
    assert overlap and overlap == set(card.reader_options["drop"]["values"])
    frames = dataset("mptrj_highest_stress")
    assert len(frames) == sum(1 for r in raw if r not in overlap) < card.counts["frames"]
    assert not {f.group for f in frames} & bench_ids


def test_listed_splits_keep_whole_runs_apart(dataset):
    from unihub.foundation.data.splits import assign_splits

    for name in sorted(FINETUNE):
        card = load_card(name)
        frames = dataset(name)
        splits = assign_splits(frames, card.splits)
        by_group: dict = {}
        for f, s in zip(frames, splits, strict=True):
            by_group.setdefault(f.group, set()).add(s)
        assert all(len(s) == 1 for s in by_group.values()), name  # no run straddles two splits
        assert {g for g, s in by_group.items() if s == {"test"}} == set(card.splits["test"]), name
        assert {g for g, s in by_group.items() if s == {"val"}} == set(card.splits["val"]), name
        assert all(f.fidelity == "mptrj" for f in frames)
        counts = {s: splits.count(s) for s in ("train", "val", "test")}
        assert min(counts.values()) > 100, (name, counts)


def test_derived_file_without_data_names_the_variable(tmp_path):
    from unihub.foundation.data.datadir import MissingDataError

    card = load_card("srhfo_mp_tasks")
    with pytest.raises(MissingDataError, match="UNIHUB_DATA.*shared/data"):
        resolve_file(card, card.files[0], data_dir=tmp_path)
