"""The compound generator: determinism, chemistry (charge balance, element restriction), contact guard,
perturbed copies against their parents, element coverage, data sources, and benchmark overlap."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase.data import atomic_numbers

from unihub.finetune.distillation import compounds as C
from unihub.finetune.distillation.compounds import random_symmetric, stream

REPO = Path(__file__).resolve().parents[2]
FAST = ["prototype", *C.PERTURBED]  # needs neither data nor pyxtal


@pytest.fixture(scope="module")
def shared_data() -> Path:
    env = os.environ.get("UNIHUB_DATA")
    path = (Path(env) if env else REPO / ".." / "shared" / "data").resolve()
    if not (path / C.MATTERGEN).exists():
        pytest.skip(f"{path / C.MATTERGEN} not found; set UNIHUB_DATA to the shared data folder")
    return path


@pytest.fixture
def with_data(shared_data, monkeypatch) -> Path:
    monkeypatch.setenv("UNIHUB_DATA", str(shared_data))
    return shared_data


def _balance(atoms) -> int:
    states = C.parse_oxidation_states(atoms.info["oxidation_states"])
    return sum(states[s] for s in atoms.get_chemical_symbols())


def test_same_seed_same_structures_other_seed_others():
    a = list(C.generate_compounds(12, seed=3, kinds=FAST))
    b = list(C.generate_compounds(12, seed=3, kinds=FAST))
    c = list(C.generate_compounds(12, seed=4, kinds=FAST))
    assert [x.info["id"] for x in a] == [x.info["id"] for x in b]
    assert len({x.info["id"] for x in a}) == 12
    for x, y in zip(a, b, strict=True):
        assert x.get_chemical_symbols() == y.get_chemical_symbols()
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.cell.array, y.cell.array)
    assert [x.info["formula"] for x in a] != [x.info["formula"] for x in c]
    assert not {x.info["id"] for x in a} & {x.info["id"] for x in c}
    # resumable: a shorter stream is a prefix, and other arguments give other ids
    assert [x.info["id"] for x in C.generate_compounds(5, seed=3, kinds=FAST)] == [x.info["id"] for x in a[:5]]
    other = next(C.generate_compounds(1, seed=3, kinds=FAST, max_atoms=16))
    assert other.info["id"] != a[0].info["id"]


def test_a_stream_started_at_a_block_is_the_rest_of_the_same_stream():
    whole = list(C.generate_compounds(12, seed=3, kinds=FAST))
    rest = list(C.generate_compounds(12, seed=3, kinds=FAST, start_block=4))
    assert [x.info["id"] for x in rest] == [x.info["id"] for x in whole[8:]]
    for x, y in zip(rest, whole[8:], strict=True):
        np.testing.assert_array_equal(x.positions, y.positions)
        assert x.get_chemical_symbols() == y.get_chemical_symbols()
    assert [stream.block_of(x.info["id"]) for x in rest] == [4, 4, 5, 5]
    assert list(C.generate_compounds(12, seed=3, kinds=FAST, start_block=6)) == []
    with pytest.raises(ValueError, match="start_block"):
        next(C.generate_compounds(12, seed=3, kinds=FAST, start_block=-1))
    with pytest.raises(ValueError, match="not the id of a generated compound"):
        stream.block_of("p1-s")


def test_ionic_prototypes_are_charge_balanced_and_every_structure_is_sane():
    out = list(C.generate_compounds(160, seed=0, kinds=FAST, max_atoms=20))
    ionic = [a for a in out if a.info["source"] == "prototype" and "oxidation_states" in a.info]
    assert len(ionic) >= 15
    for a in ionic:
        assert _balance(a) == 0, (a.info["formula"], a.info["oxidation_states"])
        states = C.parse_oxidation_states(a.info["oxidation_states"])
        for el, q in states.items():  # the states are ones the element takes
            assert q in (C.cation_states(el) if q > 0 else (C.ANION_STATES[el], -1, -2)), (el, q)
    for a in out:
        assert len(a) <= 20 and a.pbc.all() and a.get_volume() > 0
        assert C.check_contacts(a), a.info["id"]
        assert set(a.info) >= {"id", "source", "prototype", "formula", "parent"}
        assert a.info["formula"] == C.reduced_formula(a)
    assert {a.info["source"] for a in out} == set(FAST)


def test_contact_guard_rejects_overlaps():
    from ase import Atoms

    a = Atoms("NaCl", positions=[[0, 0, 0], [0.8, 0, 0]], cell=[5, 5, 5], pbc=True)
    assert not C.check_contacts(a)
    a.positions[1, 0] = 2.8
    assert C.check_contacts(a)


def test_elements_restrict_the_chemistry(with_data):
    elements = ["Li", "Na", "Mg", "Fe", "Mn", "Ti", "O", "S", "F", "Cl"]
    out = list(C.generate_compounds(40, seed=1, elements=elements, kinds=[*FAST, "substituted"]))
    assert {a.info["source"] for a in out} >= {"prototype", "substituted"}
    for a in out:
        assert set(a.get_chemical_symbols()) <= set(elements), a.info["formula"]


def test_perturbed_copies_keep_their_parent_and_stated_change():
    out = list(C.generate_compounds(120, seed=5, kinds=FAST))
    by_id = {a.info["id"]: a for a in out}
    seen = Counter()
    for a in out:
        if a.info["source"] == "prototype":
            assert a.info["parent"] == a.info["id"]
            continue
        parent = by_id[a.info["parent"]]
        kind = a.info["source"]
        seen[kind] += 1
        assert a.info["formula"] == parent.info["formula"] or kind == "vacancy"
        if kind in ("strained", "sheared"):
            eps = np.asarray(a.info["strain"])
            np.testing.assert_allclose(a.cell.array, parent.cell.array @ (np.eye(3) + eps), atol=1e-9)
            np.testing.assert_allclose(a.positions, parent.positions @ (np.eye(3) + eps), atol=1e-9)
            if kind == "strained":
                assert np.allclose(eps, eps[0, 0] * np.eye(3)) and abs(eps[0, 0]) <= 0.10
            else:
                assert np.allclose(np.diag(eps), 0) and np.abs(eps).max() <= 0.05
        else:
            reps = tuple(int(x) for x in a.info["supercell"].split())
            sc = parent * reps
            if kind == "rattled":
                sigma = a.info["rattle"]
                assert 0.02 <= sigma <= 0.10
                dx = a.positions - sc.positions
                assert 0 < np.abs(dx).max() <= 6 * sigma
            else:
                assert len(sc) >= 8 and len(a) == len(sc) - 1
    assert all(seen[k] > 0 for k in C.PERTURBED), seen


def test_wide_strained_copies_only_when_named_and_beyond_the_default_strain():
    """``wide_strained`` reaches the volumes ``strained`` never does; naming it leaves the default stream alone."""
    out = list(C.generate_compounds(80, seed=5, kinds=["prototype", "wide_strained"]))
    by_id = {a.info["id"]: a for a in out}
    eps = []
    for a in out[1::2]:
        assert a.info["source"] == "wide_strained"
        e = np.asarray(a.info["strain"])
        parent = by_id[a.info["parent"]]
        np.testing.assert_allclose(a.cell.array, parent.cell.array @ (np.eye(3) + e), atol=1e-9)
        assert np.allclose(e, e[0, 0] * np.eye(3))
        eps.append(e[0, 0])
    eps = np.array(eps)
    assert ((eps >= 0.10) & (eps <= 0.30) | (eps >= -0.15) & (eps <= -0.10)).all(), eps
    assert (eps > 0).sum() > (eps < 0).sum() > 0  # mostly expansion, some compression
    assert "wide_strained" not in C.KINDS
    default = [a.info["source"] for a in C.generate_compounds(60, seed=5, kinds=FAST)]
    assert "wide_strained" not in default


def test_every_element_can_be_the_focus_and_most_appear_soon():
    ctx = stream._Context(frozenset(C.ELEMENTS), 32, None)
    assert ctx.proto_focus == sorted(C.ELEMENTS, key=lambda e: atomic_numbers[e])
    assert not set(C.EXCLUDED) & set(C.ELEMENTS) and len(C.ELEMENTS) == 84
    counts = Counter(s for a in C.generate_compounds(400, seed=2, kinds=["prototype"])
                     for s in set(a.get_chemical_symbols()))
    assert len(counts) >= 75, sorted(set(C.ELEMENTS) - set(counts))


def test_substituted_reads_only_the_structures_folder(shared_data, tmp_path, monkeypatch):
    import ase.io

    (tmp_path / "structures").mkdir()
    for name in ("mattergen_release.extxyz", "MANIFEST.json"):
        shutil.copy(shared_data / "structures" / name, tmp_path / "structures" / name)
    monkeypatch.setenv("UNIHUB_DATA", str(tmp_path))
    read, opened = ase.io.read, []

    def spy(path, *args, **kw):
        opened.append(Path(path).resolve())
        return read(path, *args, **kw)

    monkeypatch.setattr(ase.io, "read", spy)
    out = list(C.generate_compounds(6, seed=0, kinds=["substituted"], max_atoms=24))
    assert opened and all(p.is_relative_to(tmp_path / "structures") for p in opened)
    for a in out:
        assert a.info["source"] == "substituted" and a.info["template"].startswith("mattergen_release[")
        assert len(a) <= 24 and C.check_contacts(a)
        if "oxidation_states" in a.info:
            assert _balance(a) == 0


def test_missing_structures_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIHUB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="UNIHUB_DATA"):
        list(C.generate_compounds(2, kinds=["substituted"]))
    with pytest.warns(UserWarning, match="substituted"):  # the default kinds go on without it
        assert len(list(C.generate_compounds(2))) == 2


def test_random_symmetric_is_charge_balanced_and_deterministic():
    pytest.importorskip("pyxtal")
    a = list(C.generate_compounds(3, seed=7, kinds=["random_symmetric"]))
    b = list(C.generate_compounds(3, seed=7, kinds=["random_symmetric"]))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.positions, y.positions)
        assert x.info["source"] == "random_symmetric" and x.info["space_group"] in random_symmetric._SPACEGROUPS
        assert _balance(x) == 0 and C.check_contacts(x) and len(x) <= 32


def test_volume_scan_scales_volume():
    base = next(C.generate_compounds(1, kinds=["prototype"]))
    scans = C.volume_scan(base, (0.94, 1.0, 1.06))
    for s, a in zip((0.94, 1.0, 1.06), scans, strict=True):
        assert a.get_volume() == pytest.approx(s * base.get_volume())
        assert a.info["parent"] == base.info["id"] and a.info["volume_scale"] == s


def test_benchmark_overlap_counts_a_copy_of_a_benchmark_entry(shared_data):
    from ase import Atoms

    from unihub.foundation.data import load_dataset

    generated = list(C.generate_compounds(4, seed=0, kinds=["prototype"]))
    key = C.structure_key(generated[0])
    made = C.benchmark_overlap(generated, {"fake": [key], "none": [("Xx", 1)]})
    assert made["fake"]["overlap"] >= 1 and made["fake"]["structures"] == 4 and made["none"]["overlap"] == 0

    frame = load_dataset("wbm_random_1000", shared_data)[0]
    copy = Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=True)
    keys = C.benchmark_keys(["wbm_random_1000"], shared_data)
    got = C.benchmark_overlap([copy, *generated], keys)["wbm_random_1000"]
    assert got["overlap"] >= 1 and got["keys_hit"] >= 1 and got["formula_overlap"] >= 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown element"):
        next(C.generate_compounds(1, elements=["Xy"]))
    with pytest.raises(ValueError, match="noble gases"):
        next(C.generate_compounds(1, elements=["Ne", "O"]))
    with pytest.raises(ValueError, match="unknown kind"):
        next(C.generate_compounds(1, kinds=["amorphous"]))
    with pytest.raises(ValueError, match="no compound"):
        next(C.generate_compounds(1, elements=["O"], kinds=["prototype"]))
