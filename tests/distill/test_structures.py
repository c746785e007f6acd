"""Starting structures: every listed kind is generated, unknown elements are refused."""

from collections import Counter

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from unihub.finetune.distillation.structures import (
    adsorbates,
    atomic_volume,
    check_elements,
    close_contacts,
    generate_structures,
    min_distance,
    ordered_alloys,
    read_structures,
    stacking_faults,
    surfaces,
)


def test_single_element_covers_every_kind():
    s = generate_structures(["Si"], max_atoms=64)
    kinds = Counter(a.info["source"] for a in s)
    assert {"prototype", "strain", "shear", "vacancy", "surface"} <= set(kinds)
    names = {a.info["name"] for a in s if a.info["source"] == "prototype"}
    assert {"Si-diamond", "Si-fcc", "Si-bcc", "Si-hcp", "Si-sc"} <= names
    assert all(len(a) <= 64 and set(a.get_chemical_symbols()) == {"Si"} for a in s)
    assert all(min_distance(a) > 1.5 for a in s if a.info["source"] != "close-contact")
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
    assert set(got) == {"BeW-B2", "BeW-L1_0", "BeW3-L1_2", "Be3W-L1_2", "Be2W-C15", "Be2W-C14", "Be2W-C36"}
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


def test_hexagonal_laves_phases_share_the_c15_neighbourhoods():
    import spglib

    got = {a.info["name"]: a for a in ordered_alloys(["Be", "W"])}
    c15 = got["Be2W-C15"]
    for name, n in (("Be2W-C14", 12), ("Be2W-C36", 24)):
        a = got[name]
        assert len(a) == n and (a.numbers == 74).sum() == n // 3
        assert spglib.get_spacegroup((a.cell[:], a.get_scaled_positions(), a.numbers)).endswith("(194)")
        # ideal Laves phases differ only in how the layers stack: every atom keeps the C15 neighbourhood
        # (W: 4 W and 12 Be; Be: 6 W and 6 Be) at the same distances, as the volumes per atom are equal
        for x, y in ((74, 74), (74, 4), (4, 4)):
            dx = a.get_all_distances(mic=True)[np.ix_(a.numbers == x, a.numbers == y)]
            d15 = c15.get_all_distances(mic=True)[np.ix_(c15.numbers == x, c15.numbers == y)]
            assert dx[dx > 0.1].min() == pytest.approx(d15[d15 > 0.1].min(), rel=1e-6)
        cn = _coordination(a, 3.2)  # between the first shell (up to 2.75 Å) and the second (3.67 Å)
        assert sorted(set(cn[a.numbers == 74])) == [16] and sorted(set(cn[a.numbers == 4])) == [12]


def _coordination(atoms, cutoff):
    from ase.neighborlist import neighbor_list

    return np.bincount(neighbor_list("i", atoms, cutoff), minlength=len(atoms))


def test_stacking_faults_slide_one_plane_over_the_next():
    cu = bulk("Cu", "fcc", a=3.6)
    d0 = min_distance(cu * (2, 2, 2))
    faults = stacking_faults(cu, "fcc", max_atoms=64)
    assert len(faults) >= 4 and {a.info["source"] for a in faults} == {"stacking-fault"}
    for a in faults:
        assert a.get_volume() / len(a) == pytest.approx(cu.get_volume())  # a slide, not a strain
        assert min_distance(a) >= 0.6 * d0
        z = _coordination(a, 1.05 * d0)
        # fcc has 12 neighbours; atoms on either side of the slid plane lose some, the rest keep 12
        assert (z == 12).sum() >= len(a) // 2 and (z < 12).any()
    assert stacking_faults(cu, "sc", max_atoms=64) == []  # no slip plane listed: nothing invented


def test_adsorbates_sit_on_top_of_the_slab(rng):
    slab = surfaces(bulk("W"), max_atoms=64)[0]
    out = adsorbates(slab, ["Be"], rng)
    assert len(out) == 1 and out[0].info["source"] == "adsorbate"
    a = out[0]
    assert len(a) == len(slab) + 1 and a.get_chemical_symbols()[-1] == "Be"
    normal = np.cross(a.cell[0], a.cell[1])
    normal /= np.linalg.norm(normal)
    heights = a.positions @ normal
    assert heights[-1] > heights[:-1].max() + 1.0  # above the top layer, not inside the slab
    assert a.get_distances(len(a) - 1, range(len(slab)), mic=True).min() > 1.8


def test_close_contacts_press_one_pair_to_the_asked_distance(rng):
    from unihub.finetune.distillation.structures import nearest_neighbour_distance

    w = bulk("W", cubic=True) * (2, 2, 2)
    got = close_contacts(w, ["W", "Be"], rng, fractions=(0.5, 0.7))
    assert [a.info["name"].split(":")[1] for a in got] == ["W-W@0.50", "W-W@0.70", "Be-W@0.50", "Be-W@0.70"]
    d_w, d_be = nearest_neighbour_distance("W"), nearest_neighbour_distance("Be")
    for a, mean, f in zip(got, (d_w, d_w, (d_w + d_be) / 2, (d_w + d_be) / 2), (0.5, 0.7, 0.5, 0.7)):
        assert min_distance(a) == pytest.approx(f * mean, rel=1e-6)  # the pushed pair, and only it, that close
        d = a.get_all_distances(mic=True)
        np.fill_diagonal(d, np.inf)
        assert (d < 0.9 * d_w).sum() == 2
    assert sorted(got[2].get_chemical_symbols()).count("Be") == 1


def test_the_known_phase_slips_and_meets_the_other_elements():
    s = generate_structures(["W", "Be"], max_atoms=64)
    faults = [a for a in s if a.info["source"] == "stacking-fault"]
    assert {a.get_chemical_formula(empirical=True) for a in faults} == {"W", "Be"}
    ads = [a for a in s if a.info["source"] == "adsorbate"]
    assert {a.info["name"].split("+")[-1] for a in ads} == {"W", "Be"}
    assert "adsorbate" not in {a.info["source"] for a in generate_structures(["Si"], max_atoms=64)}
    pairs = {a.info["name"].split(":")[1].split("@")[0] for a in s if a.info["source"] == "close-contact"}
    assert pairs == {"W-W", "Be-W", "W-Be", "Be-Be"}


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
