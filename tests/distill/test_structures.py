"""Starting structures: every listed kind is generated, unknown elements are refused."""

from collections import Counter

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from finetune.distill.structures import (
    atomic_volume,
    check_elements,
    generate_structures,
    min_distance,
    ordered_alloys,
    read_structures,
)


def test_single_element_covers_every_kind():
    s = generate_structures(["Si"], max_atoms=64)
    kinds = Counter(a.info["source"] for a in s)
    assert {"prototype", "strain", "shear", "vacancy", "surface"} <= set(kinds)
    names = {a.info["name"] for a in s if a.info["source"] == "prototype"}
    assert {"Si-diamond", "Si-fcc", "Si-bcc", "Si-hcp", "Si-sc"} <= names
    assert all(len(a) <= 64 and set(a.get_chemical_symbols()) == {"Si"} for a in s)
    assert all(min_distance(a) > 1.5 for a in s)
    # the known diamond phase keeps ASE's lattice constant; strains reach ±10 % in length
    dia = next(a for a in s if a.info["name"] == "Si-diamond")
    assert min_distance(dia) == pytest.approx(5.43 * np.sqrt(3) / 4, rel=1e-3)
    surf = [a for a in s if a.info["source"] == "surface"]
    assert all(a.cell.lengths()[2] > 12 for a in surf)  # slab plus vacuum
    sizes = {a.info["name"]: len(a) for a in s if a.info["source"] == "prototype"}
    assert all(len(a) == sizes[a.info["name"][:-4]] - 1 for a in s if a.info["source"] == "vacancy")


def test_strain_magnitudes():
    s = generate_structures(["Cu"], max_atoms=32)
    base = {a.info["name"]: a for a in s if a.info["source"] == "prototype"}  # the supercells come last
    vols = [a.get_volume() / base[a.info["name"].rsplit("@", 1)[0]].get_volume()
            for a in s if a.info["source"] == "strain"]
    assert min(vols) == pytest.approx(0.9 ** 3) and max(vols) == pytest.approx(1.1 ** 3)


def test_several_elements_add_random_alloys():
    s = generate_structures(["W", "Be"], max_atoms=32)
    alloys = [a for a in s if a.info["source"] == "alloy"]
    assert alloys and all(set(a.get_chemical_symbols()) == {"W", "Be"} for a in alloys)
    assert {"BeW-B2", "Be2W-C15"} <= {a.info["name"] for a in alloys}
    assert {a.info["source"] for a in s} >= {"prototype", "strain", "shear", "vacancy", "surface", "alloy"}


def test_ordered_compounds_have_their_prototype_geometry():
    got = {a.info["name"]: a for a in ordered_alloys(["Be", "W"])}
    assert set(got) == {"BeW-B2", "BeW-L1_0", "BeW3-L1_2", "Be3W-L1_2", "Be2W-C15"}
    vol = {e: atomic_volume(e) for e in ("W", "Be")}
    for a in got.values():
        n_w, n_be = (a.numbers == 74).sum(), (a.numbers == 4).sum()
        # Vegard: the cell holds the volume its atoms hold in their own phases
        assert a.get_volume() == pytest.approx(n_w * vol["W"] + n_be * vol["Be"])
        assert min_distance(a) > 2.0
    b2 = got["BeW-B2"]
    d = b2.get_all_distances(mic=True)[0, 1]
    assert d == pytest.approx(np.sqrt(3) / 2 * b2.cell[0, 0])  # body centre
    # C15 Laves: the larger atom (W) on the diamond sublattice, 8 per cubic cell; ideal distance ratios
    c15 = got["Be2W-C15"]
    assert (c15.numbers == 74).sum() == 8 and len(c15) == 24
    d = c15.get_all_distances(mic=True) / c15.cell[0, 0]
    np.fill_diagonal(d, np.inf)
    w, be = c15.numbers == 74, c15.numbers == 4
    assert d[np.ix_(w, w)].min() == pytest.approx(np.sqrt(3) / 4)
    assert d[np.ix_(be, be)].min() == pytest.approx(np.sqrt(2) / 4)
    assert d[np.ix_(w, be)].min() == pytest.approx(np.sqrt(11) / 8)
    # every pair of a ternary gets its compounds
    assert len(ordered_alloys(["Nb", "Mo", "Ta"])) == 3 * len(got)


@pytest.mark.parametrize("bad", ["Xx", "SI", "", "X"])
def test_unknown_elements_are_refused(bad):
    with pytest.raises(ValueError, match="unknown element"):
        check_elements([bad])
    with pytest.raises(ValueError, match="unknown element"):
        generate_structures(["Si", bad])


def test_user_structures_from_a_file(tmp_path):
    write(tmp_path / "s.extxyz", [bulk("Si", "diamond", 5.43), bulk("Si", "diamond", 5.5)])
    s = read_structures(tmp_path / "s.extxyz")
    assert len(s) == 2 and {a.info["source"] for a in s} == {"user"}
