"""Cards parse, agree with the shared MANIFEST, and pin the files actually on disk."""

from __future__ import annotations

import hashlib

import pytest

from foundation.data import READERS, UnknownCardError, list_cards, load_card
from foundation.data.cards import REQUIRED_KEYS, split_front_matter
from foundation.data.datadir import resolve_file, sha256_file

TRAIN = {"mad_subset", "mad_au_alloys", "oc20_traj", "matpes_element_refs", "diatomics", "fitsnap_WBe",
         "fitsnap_Fe", "fitsnap_InP", "fitsnap_Ta", "nbmotaw", "mlearn"}
BENCH = {"wbm_random_1000", "mp_binary_elasticity", "alexandria_phonon", "acwf_eos", "jarvis_vacancy",
         "kappa103", "mp_elemental_refs"}


def test_every_dataset_has_a_card_with_the_exact_schema():
    assert set(list_cards("train")) == TRAIN
    assert set(list_cards("bench")) == BENCH
    for name in TRAIN | BENCH:
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
            else:
                assert f.url.startswith("https://raw.githubusercontent.com/") and f.url.endswith(f.path.split("/")[-1])


def test_fidelity_choices():
    fid = {n: load_card(n).fidelity for n in TRAIN | BENCH}
    assert fid["mad_subset"] == fid["mad_au_alloys"] == "pbesol"
    assert fid["oc20_traj"] == "rpbe" and fid["fitsnap_InP"] == "lda" and fid["jarvis_vacancy"] == "optb88vdw"
    assert fid["matpes_element_refs"] == fid["diatomics"] == "mixed"
    assert {fid[n] for n in ("mlearn", "nbmotaw", "fitsnap_WBe", "fitsnap_Fe", "fitsnap_Ta")} == {"pbe"}
    assert load_card("mad_au_alloys").reader_options["energy_key"] == "REF_cohesion_energy"
    assert {load_card(n).energy_reference for n in ("mad_subset", "mad_au_alloys")} == {"cohesive"}


def test_cards_match_manifest(manifest):
    assert set(manifest) == TRAIN | BENCH
    for name, entry in manifest.items():
        card = load_card(name)
        assert card.folder == entry["folder"]
        assert card.counts == {"frames": entry["n_frames"], "atoms": entry["n_atoms_total"]}
        assert list(card.elements) == entry["elements"]
        assert {f.path: (f.sha256, f.bytes) for f in card.files} == {
            f["name"]: (f["sha256"], f["bytes"]) for f in entry["files"]}


def test_every_card_file_matches_the_shared_data(shared_data):
    for name in sorted(TRAIN | BENCH):
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
