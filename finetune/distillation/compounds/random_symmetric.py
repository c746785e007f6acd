"""The ``random_symmetric`` kind: pyxtal random crystals of charge-balanced compositions in common space
groups, scaled to their bonds and kept only when like charges keep apart and the ions pack.

pyxtal is an optional dependency of this kind alone, so it is imported where a crystal is built."""

from __future__ import annotations

import functools
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from unihub.foundation.neighbors import pair_distances

from .elements import (
    _STD_ANIONS,
    ANION_STATES,
    ANION_WEIGHTS,
    _oxi_string,
    _pair_ok,
    _pick,
    cation_states,
    ionic_radius,
)
from .geometry import _first_shell, _scale

if TYPE_CHECKING:  # the builders take the stream's context; the stream imports them
    from .stream import _Context


_SPACEGROUPS = {225: 3, 221: 2, 227: 2, 216: 1, 194: 3, 186: 1, 191: 1, 187: 1, 166: 2, 164: 1, 167: 1,
                148: 1, 139: 2, 141: 1, 136: 1, 129: 1, 123: 1, 71: 1, 62: 4, 63: 2, 60: 1, 61: 1, 58: 1,
                14: 5, 12: 2, 15: 2, 11: 1, 2: 2}


def have_pyxtal() -> bool:
    """Whether pyxtal (for ``random_symmetric``) is importable."""
    try:
        import pyxtal  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _space_group(number: int):
    # pyxtal may be absent (see have_pyxtal): imported when a random crystal is asked for
    from pyxtal.symmetry import Group

    return Group(number)


# pyxtal's pair tolerances as fractions of the mean cation-anion bond (anion-anion, cation-anion,
# cation-cation) and the packing fraction of the ions' spheres it starts from; then the floors that a
# crystal, scaled to its bonds, must keep between like charges (cations, anions): a random crystal is
# looser than a real one, so these are below the 1.0 and 1.1 bonds real ionic crystals keep
_PYXTAL_TOL = (0.8, 0.6, 0.7)
_PACKING = 0.5
_LIKE_FLOOR = (0.8, 0.9)
_MIN_PACKING = 0.4  # ions' spheres over the cell volume; real ionic crystals: 0.45 (Li2O) to 0.75 (perovskites)


@functools.cache
def _quick_crystal():
    """pyxtal's ``random_crystal`` with 3 lattices x 3 placements instead of up to 40 x 10: a composition
    that does not fit at once is cheaper to redraw than to insist on (pinned to pyxtal 1.1.5's loop)."""
    # pyxtal may be absent (see have_pyxtal): imported when a random crystal is asked for
    import pyxtal.symmetry
    from pyxtal.crystal import random_crystal
    from pyxtal.tolerance import Tol_matrix

    # pyxtal's Wyckoff merge calls check_images without a tolerance matrix, which then builds a default
    # one (4 ms, over half the run time) only to ignore it for the explicit tolerance it was given
    check_images, default_tm = pyxtal.symmetry.check_images, Tol_matrix(prototype="atomic")
    if not getattr(check_images, "_unihub_cached_tm", False):
        def cached(coords, species, lattice, PBC=None, tm=None, tol=None, d_factor=1.0):
            return check_images(coords, species, lattice, PBC, default_tm if tm is None else tm, tol, d_factor)

        cached._unihub_cached_tm = True
        pyxtal.symmetry.check_images = cached

    class QuickCrystal(random_crystal):
        def set_crystal(self) -> None:
            self.numattempts = 0
            for _ in range(3):
                self.set_volume()
                self.set_lattice(self.lattice0)
                for _ in range(3):
                    output = self._set_coords()
                    if output:
                        self.atom_sites = output
                        return
                self.lattice.reset_matrix()

    return QuickCrystal


def _tolerances(species: list[str], anion: str, bond: dict[str, float]):
    """pyxtal's pair tolerances: ``_PYXTAL_TOL`` times the mean cation-anion bond (anion pairs), the bond
    (cation-anion), the mean of the two cations' bonds (cation pairs)."""
    # pyxtal may be absent (see have_pyxtal): imported when a random crystal is asked for
    from pyxtal.tolerance import Tol_matrix

    tm = Tol_matrix(prototype="atomic")
    for i, a in enumerate(species):
        for b in species[i:]:
            if a == anion and b == anion:
                tm.set_tol(a, b, _PYXTAL_TOL[0] * float(np.mean(list(bond.values()))))
            elif anion in (a, b):
                tm.set_tol(a, b, _PYXTAL_TOL[1] * bond[a if b == anion else b])
            else:
                tm.set_tol(a, b, _PYXTAL_TOL[2] * 0.5 * (bond[a] + bond[b]))
    return tm


def _build_random(rng: np.random.Generator, ctx: _Context) -> Atoms | None:
    # pyxtal may be absent (see have_pyxtal): imported when a random crystal is asked for
    from pyxtal.lattice import Lattice

    focus = _pick(rng, ctx.random_focus)
    as_anion = focus in ANION_STATES and (not cation_states(focus) or rng.random() < 0.5)
    anion = focus if as_anion else _pick(rng, [a for a in _STD_ANIONS if a in ctx.allowed and a != focus],
                                        ANION_WEIGHTS)
    if anion is None:
        return None
    qx = -ANION_STATES[anion]
    n_cat = 1 if rng.random() < 0.5 else 2
    cats: list[str] = [] if as_anion else [focus]
    pool = sorted(e for e in ctx.allowed if cation_states(e) and e != anion and _pair_ok(e, anion))
    if not as_anion and focus not in pool:
        return None
    while len(cats) < n_cat:
        el = _pick(rng, [e for e in pool if e not in cats])
        if el is None:
            return None
        cats.append(el)
    qs = [int(rng.choice(cation_states(e))) for e in cats]
    ns = [1] * len(cats) if len(cats) == 1 else [int(x) for x in rng.integers(1, 4, len(cats))]
    q = sum(n * c for n, c in zip(ns, qs, strict=True))
    g = math.gcd(q, qx)
    ns, nx = [n * qx // g for n in ns], q // g
    per_fu = sum(ns) + nx
    zs = [z for z in (1, 2, 3, 4, 6, 8) if z * per_fu <= min(ctx.max_atoms, 24)]
    if not zs:
        return None
    z = zs[int(rng.integers(len(zs)))]
    species = [*cats, anion]
    counts = [n * z for n in (*ns, nx)]
    groups = list(_SPACEGROUPS)
    w = np.array([_SPACEGROUPS[k] for k in groups], float)
    order = rng.choice(len(groups), size=len(groups), replace=False, p=w / w.sum())
    sg = next((groups[k] for k in order if _space_group(groups[k]).check_compatible(counts)[0]), None)
    if sg is None:
        return None
    states = {**dict(zip(cats, qs, strict=True)), anion: -qx}
    r = {e: ionic_radius(e, states[e], 6) for e in species}
    bond = {c: r[c] + r[anion] for c in cats}
    tm = _tolerances(species, anion, bond)
    volume = sum(n * 4 / 3 * np.pi * r[e] ** 3 for e, n in zip(species, counts, strict=True)) / _PACKING
    seed = int(rng.integers(2**31))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lattice = Lattice(_space_group(sg).lattice_type, volume=volume, random_state=seed)
            crystal = _quick_crystal()(3, _space_group(sg), species, counts, lattice=lattice, tm=tm,
                                       random_state=seed)
    except Exception:  # pyxtal refuses some lattices and compositions outright
        return None
    if not crystal.valid:
        return None
    coords = np.concatenate([site.coords for site in crystal.atom_sites])
    atoms = Atoms([site.specie for site in crystal.atom_sites for _ in range(site.multiplicity)],
                  scaled_positions=coords - np.floor(coords), cell=crystal.lattice.matrix, pbc=True)
    syms = atoms.get_chemical_symbols()
    cat_mask = np.array([states[s] > 0 for s in syms])
    i, j, d, cn = _first_shell(atoms, cat_mask)
    if len(d) == 0:
        return None
    radius = np.array([ionic_radius(s, states[s], int(c)) for s, c in zip(syms, cn, strict=True)])
    _scale(atoms, float(np.exp(np.mean(np.log((radius[i] + radius[j]) / d)))))
    mean_bond = float(np.mean(radius[i] + radius[j]))
    ii, jj, dd = pair_distances(atoms, 1.2 * mean_bond)
    same = cat_mask[ii] == cat_mask[jj]
    floor = np.where(cat_mask[ii], *_LIKE_FLOOR) * mean_bond
    if np.any(same & (dd < floor)):
        return None
    spheres = sum(4 / 3 * np.pi * x**3 for x in radius)
    if spheres / atoms.get_volume() < _MIN_PACKING:  # chains or molecules in void, not a crystal of ions
        return None
    atoms.info.update(prototype="-", space_group=int(sg), oxidation_states=_oxi_string(states))
    return atoms
