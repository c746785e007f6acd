"""Teacher sampling: labels are the teacher's own values; MD walks the ladder in NVT and NPT."""

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from unihub.finetune.distillation.sampling import (
    EnergyFloor,
    label,
    own_ladder,
    rattled,
    teacher_md,
    temperature_ladder,
)
from unihub.finetune.distillation.structures import generate_structures


def test_labels_are_the_teachers_values_in_batches(tiny_universal, rng):
    structs = generate_structures(["Si"], max_atoms=16)[:12]
    structs += rattled(structs[:3], rng, n=1, sigma=0.05)
    got = label(tiny_universal, structs, head="pbesol", max_atoms=40)  # several batches
    ref = tiny_universal.predict(structs, head="pbesol")
    other = tiny_universal.predict(structs[:1], head="pbe")[0]
    assert other["energy"] != ref[0]["energy"]  # the head matters, so the check below means something
    for a, b, r in zip(structs, got, ref):
        assert b.info["source"] == a.info["source"] and np.array_equal(b.positions, a.positions)
        # batches of different composition change only the summation order (float64 round-off)
        assert abs(b.get_potential_energy() - r["energy"]) < 1e-10
        np.testing.assert_allclose(b.get_forces(), r["forces"], atol=1e-10)
        if a.pbc.all():
            np.testing.assert_allclose(b.get_stress(voigt=False), r["stress"], atol=1e-10)


def test_rattles_move_atoms_but_keep_them_apart(rng):
    a = bulk("Cu", "fcc", 3.6, cubic=True) * (2, 2, 2)
    a.info.update(source="prototype", name="Cu")
    r = rattled([a], rng, n=3, sigma=0.05)
    assert len(r) == 3 and {x.info["source"] for x in r} == {"rattle"}
    for x in r:
        d = np.linalg.norm(x.positions - a.positions, axis=1)
        assert 0.02 < d.mean() < 0.15


def test_teacher_md_climbs_the_ladder_in_nvt_and_npt(emt_teacher):
    start = bulk("Cu", "fcc", 3.6, cubic=True) * (2, 2, 2)
    start.info.update(source="prototype", name="Cu")
    snaps = teacher_md(emt_teacher, [start], [300, 1500], steps=40, every=10)
    assert {s.info["source"] for s in snaps} == {"md-nvt", "md-npt"}
    assert len(snaps) == 8 and all(s.calc is None for s in snaps)  # unlabelled until ``label``
    npt = [s for s in snaps if s.info["source"] == "md-npt"]
    assert len({round(s.get_volume(), 6) for s in npt}) > 1  # the barostat moved the cell
    # positions really came from EMT dynamics: hot snapshots are displaced from the lattice
    assert np.abs(snaps[-1].get_scaled_positions() - start.get_scaled_positions()).max() > 1e-3
    lab = label(emt_teacher, snaps[:2])
    b = snaps[0].copy()
    b.calc = EMT()
    assert lab[0].get_potential_energy() == b.get_potential_energy()


def test_ladder_goes_past_melting():
    t = temperature_ladder(["Si"])
    assert t == sorted(t) and t[-1] > 1687 > t[0]


def test_each_start_climbs_its_own_ladder(emt_teacher):
    from ase.build import bulk as b

    w, be = b("W") * (2, 2, 2), b("Be") * (2, 2, 1)
    wbe = b("W", "bcc", a=3.0, cubic=True)
    wbe[1].symbol = "Be"
    top = {x.get_chemical_formula(): own_ladder(x)[-1] for x in (w, be, wbe)}
    assert top["Be8"] > 1560 and top["W8"] > 3695  # past each one's melting point...
    assert top["Be8"] < 3695 < top["W8"] and top["Be8"] < top["BeW"] < top["W8"]  # ...and not past W's for Be
    assert temperature_ladder(["W", "Be"]) == own_ladder(w)
    cu, ni = b("Cu", cubic=True), b("Ni", cubic=True)
    cu.info.update(name="Cu", temperatures=[200, 600])
    ni.info.update(name="Ni")
    snaps = teacher_md(emt_teacher, [cu, ni], [300], steps=10, every=10)
    assert sorted(x.info["name"].split(":")[0] for x in snaps) == ["Cu@200K-nvt", "Cu@600K-npt", "Ni@300K-nvt"]


def _labelled(symbols, energy_per_atom):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    a = Atoms(symbols, cell=[9, 9, 9], pbc=True)
    a.positions = np.arange(3 * len(a)).reshape(-1, 3) * 0.7
    a.calc = SinglePointCalculator(a, energy=energy_per_atom * len(a), forces=np.zeros((len(a), 3)))
    return a


def test_energy_floor_drops_labels_below_the_ground_state():
    floor = EnergyFloor({"Cu": -3.0, "Ni": -4.0})
    ok, hole = _labelled("Cu4", -3.05), _labelled("Cu4", -3.5)  # 0.1 eV/atom tolerance for elements
    alloy_ok, alloy_hole = _labelled("Cu2Ni2", -4.2), _labelled("Cu2Ni2", -5.0)  # mean -3.5, 1.0 tolerance
    kept, dropped = floor.drop_holes([ok, hole, alloy_ok, alloy_hole])
    assert kept == [ok, alloy_ok] and dropped == 2


def test_teacher_md_stops_when_the_teacher_falls_below_the_floor(emt_teacher):
    start = bulk("Cu", "fcc", 3.6, cubic=True) * (2, 2, 2)
    start.info.update(source="prototype", name="Cu")
    b = start.copy()
    b.calc = EMT()
    e0 = b.get_potential_energy() / len(b)
    free = teacher_md(emt_teacher, [start], [300, 600], steps=40, every=10)
    assert len(free) == 8
    # a floor above where EMT's dynamics go stands in for a teacher hole: the run ends at once
    stopped = teacher_md(emt_teacher, [start], [300, 600], steps=40, every=10, floor=EnergyFloor({"Cu": e0 + 1.0}))
    assert stopped == []
