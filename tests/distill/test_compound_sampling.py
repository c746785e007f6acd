"""Sampling compounds: an oxide's own relaxed cell sets its energy floor, and its ladder ignores oxygen's melting."""

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from unihub.finetune.distillation.distill import energy_floor
from unihub.finetune.distillation.sampling import EnergyFloor, composition_melting_point, own_ladder, reduced_formula


def _labelled(symbols: str, energy_per_atom: float) -> Atoms:
    a = Atoms(symbols, cell=[9, 9, 9], pbc=True)
    a.positions = np.arange(3 * len(a)).reshape(-1, 3) * 0.7
    a.calc = SinglePointCalculator(a, energy=energy_per_atom * len(a), forces=np.zeros((len(a), 3)))
    return a


def test_an_anchor_lowers_the_floor_of_its_own_composition_only():
    # elements at -2 and -5 eV/atom: MgO at -6.5 eV/atom is 3 eV/atom under their mean, as oxides are
    floor = EnergyFloor({"Mg": -2.0, "O": -5.0}, anchors={"MgO": -6.5})
    hot, relaxed, hole = _labelled("Mg2O2", -6.2), _labelled("Mg2O2", -6.5), _labelled("Mg2O2", -7.2)
    other = _labelled("MgO2", -6.2)  # no anchor: the elemental limit (-4.0 - 1.0) still holds
    kept, dropped = floor.drop_holes([hot, relaxed, hole, other])
    assert kept == [hot, relaxed] and dropped == 2
    assert reduced_formula(_labelled("Mg4O4", -1.0)) == "MgO"
    assert EnergyFloor({}, anchors={"MgO": -6.5}).limit(_labelled("Mg2O", 0.0)) == -np.inf


def test_floor_from_anchors_alone_when_an_element_has_no_ground_state():
    floor = energy_floor(["Mg", "O"], {}, anchors={"MgO": -6.5})
    assert floor is not None and floor.ground == {} and floor.limit(_labelled("Mg2O2", 0.0)) == -7.0
    assert energy_floor(["Mg", "O"], {}) is None


def test_an_oxide_ladder_follows_its_cations_not_oxygen():
    ypo4 = Atoms("Y2P2O8", cell=[6, 6, 6], pbc=True)
    tm = composition_melting_point(ypo4)
    assert 1500 < tm < 2000  # Y's melting point (1799 K): P and O form molecular solids
    assert own_ladder(ypo4)[-1] > 1.2 * tm
    cu = bulk("Cu") * (2, 2, 2)
    assert abs(composition_melting_point(cu) - 1357.77) < 1  # metals unchanged
    assert composition_melting_point(Atoms("O2", cell=[9, 9, 9])) < 60  # only molecular atoms: their own
