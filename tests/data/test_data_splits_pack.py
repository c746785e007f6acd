"""Deterministic group splits, and the packed mix: round trip, metadata, dedupe, atomic writes."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict

import numpy as np
import pytest

from unihub.foundation.data import PackedMix, load_card, load_dataset, pack_mix, read_frames
from unihub.foundation.data.pack import ATOM_ARRAYS, FRAME_ARRAYS, dedupe
from unihub.foundation.data.splits import assign_split, assign_splits, group_unit

SMALL_MIX = ["fitsnap_Ta", "mad_au_alloys", "matpes_element_refs", "mlearn"]


def test_group_hash_is_pinned_and_splits_are_deterministic():
    # SHA-256 based, so the value is the same on every machine and Python version
    assert group_unit("oc20_traj", "random1000100") == pytest.approx(0.6716788222694543, abs=1e-15)
    assert [assign_split("fitsnap_Ta", f"g{i}") for i in range(10)] == [
        "train", "train", "val", "train", "train", "train", "test", "train", "train", "train"]
    got = Counter(assign_split("x", str(i)) for i in range(20000))
    assert got["train"] / 20000 == pytest.approx(0.90, abs=0.01)
    assert got["test"] / 20000 == pytest.approx(0.05, abs=0.005)
    assert assign_split("x", "g", None, {"method": "bench"}) == "test"
    assert assign_split("x", "g", "test", {"method": "by_group"}) == "test"
    src = Counter(assign_split("x", str(i), "train", {"method": "source", "val_fraction": 0.2}) for i in range(5000))
    assert set(src) == {"train", "val"} and src["val"] / 5000 == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("name", ["nbmotaw", "mlearn", "fitsnap_Ta", "diatomics"])
def test_splits_never_cut_a_group_and_keep_source_tests(dataset, name):
    frames = dataset(name)
    splits = assign_splits(frames, load_card(name).splits)
    per_group = defaultdict(set)
    for f, s in zip(frames, splits, strict=True):
        if f.split == "test":
            assert s == "test"
        else:  # mlearn's own test sets are snapshots of its training runs; everything else stays whole
            per_group[f.group].add(s)
    assert all(len(v) == 1 for v in per_group.values())
    assert splits == assign_splits(frames, load_card(name).splits)  # run twice, same answer
    assert {"train", "val", "test"} <= set(splits) or name == "fitsnap_Ta"


def test_load_dataset_split_filter(shared_data):
    test = load_dataset("mlearn", split="test")
    assert len(test) == 25 + 25 + 29 + 23 + 31 + 31 and all(f.split == "test" for f in test)
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("mlearn", split="holdout")


def test_dedupe_removes_alignn_copies_of_the_mlearn_test_set(shared_data):
    folder = shared_data / "train/mlearn"
    full = read_frames(folder / "alignn_mlearn_data/Cu/id_prop.json", voigt_order="xx yy zz xy zx yz", split="train")
    test = read_frames(folder / "Cu/test.json", voigt_order="xx yy zz xy zx yz")
    assert len(full) == 324 and len(test) == 31
    frames = [(f, assign_split("mlearn", f.group, f.split)) for f in full + test]
    keep = dedupe(frames)
    assert len(keep) == 324 + 31 - 62
    assert set(range(324, 355)) <= set(keep)  # every test structure survives, in the test split
    assert max(i for i in keep if i < 324) < 262  # the dropped copies are exactly the tail


@pytest.fixture(scope="module")
def small_pack(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("packs") / "small"
    pack_mix(SMALL_MIX, out, progress=False)
    return out


def test_pack_layout_and_meta(small_pack):
    mix = PackedMix(small_pack)
    meta = mix.meta
    assert [d["name"] for d in meta["datasets"]] == SMALL_MIX
    assert [d["card_sha256"] for d in meta["datasets"]] == [load_card(n).sha256 for n in SMALL_MIX]
    assert meta["fidelities"] == ["pbe", "pbesol", "r2scan"]
    n, natoms = len(mix), meta["n_atoms"]
    for name, dtype in {**ATOM_ARRAYS, **FRAME_ARRAYS}.items():
        arr = mix.array(name)
        assert isinstance(arr, np.memmap) and arr.dtype == dtype, name
        first = n + 1 if name == "atom_offset" else natoms if name in ATOM_ARRAYS else n
        assert arr.shape[0] == first, name
    assert sum(meta["counts"]["frames"].values()) == n
    assert sum(sum(v.values()) for v in meta["counts"]["by_dataset"].values()) == n
    assert sum(meta["counts"]["by_element"].values()) == natoms
    assert meta["counts"]["by_dataset"]["mlearn"]["test"] == 164
    assert len(mix.indices("train")) + len(mix.indices("val")) + len(mix.indices("test")) == n
    assert not [p for p in small_pack.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_pack_round_trip_within_float32(small_pack, dataset):
    mix = PackedMix(small_pack)
    expected = []
    for name in SMALL_MIX:
        card = load_card(name)
        frames = [(f, assign_split(name, f.group, f.split, card.splits)) for f in dataset(name)
                  if f.energy is not None or f.forces is not None]
        expected += [frames[i] for i in dedupe(frames)]
    assert len(expected) == len(mix)
    fidelities = mix.meta["fidelities"]
    for i in list(range(0, len(mix), 37)) + [len(mix) - 1]:
        src, split = expected[i]
        got = mix.frame(i)
        assert got.dataset == src.dataset and got.group == src.group and got.split == split
        assert got.fidelity == src.fidelity == fidelities[int(mix.get(i)["fidelity"])]
        assert np.array_equal(got.numbers, src.numbers) and np.array_equal(got.pbc, src.pbc)
        assert np.allclose(got.positions, src.positions, rtol=1e-6, atol=1e-5)
        assert np.allclose(got.cell, src.cell, rtol=1e-6, atol=1e-5)
        assert got.energy == src.energy  # float64 kept
        for label in ("forces", "stress"):
            a, b = getattr(got, label), getattr(src, label)
            assert (a is None) == (b is None), label
            if a is not None:
                assert np.allclose(a, b, rtol=1e-6, atol=1e-7), label
    d = mix.get(-1)
    assert d["positions"].dtype == np.float32 and d["energy"].dtype == np.float64
    with pytest.raises(IndexError):
        mix.get(len(mix))


def test_pack_is_reused_until_forced_and_swapped_atomically(tmp_path, shared_data):
    out = tmp_path / "mix"
    pack_mix(["fitsnap_Ta"], out, progress=False)
    before = (out / "meta.json").stat().st_mtime_ns
    pack_mix(["fitsnap_Ta"], out, progress=False)
    assert (out / "meta.json").stat().st_mtime_ns == before  # same datasets and card versions: reused
    pack_mix(["fitsnap_Ta"], out, progress=False, force=True)
    assert (out / "meta.json").stat().st_mtime_ns != before
    pack_mix(["fitsnap_Ta", "mad_au_alloys"], out, progress=False)  # another mix: swapped in place
    names = [d["name"] for d in json.loads((out / "meta.json").read_text())["datasets"]]
    assert names == ["fitsnap_Ta", "mad_au_alloys"]
    assert os.listdir(tmp_path) == ["mix"]  # no temp or old folders left behind


def test_packedmix_refuses_non_packs(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a packed mix"):
        PackedMix(tmp_path)


@pytest.mark.slow
def test_whole_train_mix_fits_in_60_mb(tmp_path, shared_data):
    from unihub.foundation.data import list_cards

    out = pack_mix(list_cards("train"), tmp_path / "train", progress=False)
    size = sum(p.stat().st_size for p in out.iterdir())
    assert size <= 60e6, size
    meta = PackedMix(out).meta
    assert all(v["train"] > 0 for v in meta["counts"]["by_dataset"].values())
