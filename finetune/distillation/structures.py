"""Starting structures for distillation: prototypes and known phases, and what is derived from them.

Every structure carries ``atoms.info["source"]`` (``prototype``, ``strain``, ``shear``, ``vacancy``,
``surface``, ``stacking-fault``, ``adsorbate``, ``close-contact``, ``alloy``, ``user``), which the student card counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk, surface
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, reference_states
from ase.io import read
from ase.spacegroup import crystal

PROTOTYPES = ("fcc", "bcc", "hcp", "sc", "diamond")
# nearest-neighbour distance d -> cubic lattice constant a (hcp: a = d)
_A_OVER_D = {"fcc": np.sqrt(2.0), "bcc": 2.0 / np.sqrt(3.0), "sc": 1.0, "diamond": 4.0 / np.sqrt(3.0), "hcp": 1.0}


def check_elements(elements: Iterable[str]) -> list[str]:
    """Element symbols, validated and de-duplicated in order; unknown symbols are refused."""
    out: list[str] = []
    for e in elements:
        s = str(e).strip()
        if s not in atomic_numbers or s == "X":
            raise ValueError(f"unknown element {e!r}: give chemical symbols such as 'Si' or 'W' "
                             "(case matters: 'Si', not 'SI')")
        if s not in out:
            out.append(s)
    if not out:
        raise ValueError("no elements given: pass elements=['Si', ...] or starting structures")
    return out


def known_phase(element: str) -> str | None:
    """The symmetry of the element's reference phase in ASE (e.g. 'bcc', 'hcp', 'diamond'), or None."""
    return (reference_states[atomic_numbers[element]] or {}).get("symmetry")


def nearest_neighbour_distance(element: str) -> float:
    """Nearest-neighbour distance of the element's known ASE phase, else twice its covalent radius."""
    try:
        a = bulk(element)
    except (ValueError, KeyError, RuntimeError):
        return 2.0 * float(covalent_radii[atomic_numbers[element]])
    return min_distance(a * (2, 2, 2))


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance (minimum image), inf for a single isolated atom."""
    if len(atoms) < 2:
        if not atoms.pbc.any():
            return float("inf")
        atoms = atoms * (2, 2, 2)
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def _tag(atoms: Atoms, source: str, name: str) -> Atoms:
    atoms.info["source"] = source
    atoms.info["name"] = name
    return atoms


def prototypes(element: str) -> list[Atoms]:
    """fcc/bcc/hcp/sc/diamond at the nearest-neighbour distance of the element's known ASE phase
    (which appears with its own lattice constants), plus that phase if it is none of the five."""
    d = nearest_neighbour_distance(element)
    known = known_phase(element)
    out = []
    if known and known not in PROTOTYPES:
        try:  # a known phase outside the five prototypes (e.g. rhombohedral, orthorhombic)
            out.append(_tag(bulk(element), "prototype", f"{element}-{known}"))
        except (ValueError, KeyError, RuntimeError):
            pass
    for kind in PROTOTYPES:
        if kind == known:  # the known phase with ASE's lattice constants (and c/a)
            atoms = bulk(element)
        else:
            a = d * _A_OVER_D[kind]
            atoms = bulk(element, kind, a=a, c=a * np.sqrt(8 / 3) if kind == "hcp" else None)
        out.append(_tag(atoms, "prototype", f"{element}-{kind}"))
    return out


def supercell(atoms: Atoms, max_atoms: int) -> Atoms:
    """The most cube-like repetition of ``atoms`` with at most ``max_atoms`` atoms (at least 1x1x1)."""
    lengths = atoms.cell.lengths()
    best, best_score = (1, 1, 1), -1.0
    for n1 in range(1, 7):
        for n2 in range(1, 7):
            for n3 in range(1, 7):
                if len(atoms) * n1 * n2 * n3 > max_atoms:
                    continue
                edges = lengths * (n1, n2, n3)
                score = edges.min() + 1e-3 * n1 * n2 * n3  # shortest edge first, then size
                if score > best_score:
                    best, best_score = (n1, n2, n3), score
    out = atoms * best
    out.info.update(atoms.info)
    return out


def strained(atoms: Atoms, strains: Sequence[float] = (-0.1, -0.05, 0.05, 0.1)) -> list[Atoms]:
    """Isotropic linear strains (±10 % by default) of ``atoms``."""
    out = []
    for s in strains:
        a = atoms.copy()
        a.set_cell(atoms.cell * (1 + s), scale_atoms=True)
        out.append(_tag(a, "strain", f"{atoms.info.get('name', '')}@{s:+.2f}"))
    return out


def sheared(atoms: Atoms, rng: np.random.Generator, n: int = 2, size: float = 0.08) -> list[Atoms]:
    """Random symmetric strains of magnitude up to ``size`` (shear and normal components)."""
    out = []
    for k in range(n):
        e = rng.uniform(-size, size, (3, 3))
        e = 0.5 * (e + e.T)
        a = atoms.copy()
        a.set_cell(atoms.cell @ (np.eye(3) + e), scale_atoms=True)
        out.append(_tag(a, "shear", f"{atoms.info.get('name', '')}#shear{k}"))
    return out


def with_vacancy(atoms: Atoms, rng: np.random.Generator) -> Atoms:
    a = atoms.copy()
    del a[int(rng.integers(len(a)))]
    return _tag(a, "vacancy", f"{atoms.info.get('name', '')}-vac")


def surfaces(atoms: Atoms, max_atoms: int, layers: int = 4, vacuum: float = 6.0) -> list[Atoms]:
    """(100), (110) and (111) slabs of a bulk cell, periodic in-plane with ``vacuum`` Å on each side."""
    out = []
    for hkl in ((1, 0, 0), (1, 1, 0), (1, 1, 1)):
        try:
            s = surface(atoms, hkl, layers, vacuum=vacuum, periodic=True)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if len(s) > max_atoms:
            continue
        reps = max(1, int(np.sqrt(max_atoms // len(s))))
        s = s * (reps, reps, 1)
        s.info["vacuum"] = float(vacuum)
        out.append(_tag(s, "surface", f"{atoms.info.get('name', '')}({''.join(map(str, hkl))})"))
    return out


# the close-packed plane of each structure type: where crystals slip and where stacking faults form
SLIP_PLANES = {"bcc": (1, 1, 0), "fcc": (1, 1, 1), "diamond": (1, 1, 1), "hcp": (0, 0, 1)}
# in-plane shifts (fractions of the slab cell's two in-plane vectors) sampling the gamma surface
GSF_SHIFTS = ((0.25, 0.0), (0.5, 0.0), (0.0, 0.25), (0.0, 0.5), (0.25, 0.25), (0.5, 0.5))


def stacking_faults(atoms: Atoms, kind: str, max_atoms: int, layers: int = 8) -> list[Atoms]:
    """Generalised stacking faults on the slip plane of ``kind`` (a key of ``SLIP_PLANES``): a periodic
    slab of ``atoms`` whose stacking vector is tilted by each of ``GSF_SHIFTS``, so the crystal above the
    cell boundary is slid over the crystal below (one fault per cell, no vacuum; unrelaxed, as on a
    gamma-surface grid). Shifts that would bring atoms closer than 0.6x the bulk distance are skipped."""
    hkl = SLIP_PLANES.get(kind)
    if hkl is None:
        return []
    d0 = min_distance(atoms)
    slab = None
    # a periodic slab is the bulk only for layer counts that complete the stacking period
    for n in (layers, layers - 2, layers + 4, layers + 1, 4):
        try:
            cand = surface(atoms, hkl, n, periodic=True)
        except (ValueError, np.linalg.LinAlgError):
            return []
        if len(cand) <= max_atoms and abs(min_distance(cand) - d0) <= 1e-3 * d0:
            slab = cand
            break
    if slab is None:
        return []
    reps = max(1, int(np.sqrt(max_atoms // len(slab))))
    out = []
    for f, g in GSF_SHIFTS:
        a = slab.copy()
        cell = a.cell.array.copy()
        cell[2] += f * cell[0] + g * cell[1]
        a.set_cell(cell, scale_atoms=False)
        a = a * (reps, reps, 1)
        if min_distance(a) < 0.6 * d0:
            continue
        plane = "".join(map(str, hkl))
        out.append(_tag(a, "stacking-fault", f"{atoms.info.get('name', '')}{plane}-gsf{f:.2f},{g:.2f}"))
    return out


def adsorbates(slab: Atoms, elements: Sequence[str], rng: np.random.Generator, height: float = 0.8) -> list[Atoms]:
    """``slab`` with one atom of each of ``elements`` above its top layer, at a random in-plane
    position, ``height`` times the mean of the two elements' bulk nearest-neighbour distances above
    the topmost atom: how a foreign atom first meets a surface (adhesion, segregation)."""
    normal = np.cross(slab.cell[0], slab.cell[1])
    normal /= np.linalg.norm(normal)
    top = slab.positions[np.argmax(slab.positions @ normal)]
    host = nearest_neighbour_distance(slab.get_chemical_symbols()[0])
    out = []
    for e in elements:
        a = slab.copy()
        xy = rng.uniform(0, 1, 2) @ slab.cell[:2]
        pos = top + (xy - (xy @ normal) * normal) + height * 0.5 * (host + nearest_neighbour_distance(e)) * normal
        a.append(e)
        a.positions[-1] = pos
        out.append(_tag(a, "adsorbate", f"{slab.info.get('name', '')}+{e}"))
    return out


def close_contacts(atoms: Atoms, elements: Sequence[str], rng: np.random.Generator,
                   fractions: Sequence[float] = (0.5, 0.65)) -> list[Atoms]:
    """Copies of ``atoms`` where one atom, made each of ``elements`` in turn, is pushed towards its
    nearest neighbour until they are ``fractions`` of the pair's mean bulk nearest-neighbour distance
    apart: the repulsive wall the student must learn from the teacher, and the shortest distance its
    radial basis then covers (``r_min``), so a close contact met in MD is inside it, not a divergence."""
    out = []
    host = atoms.get_chemical_symbols()
    for e in elements:
        for f in fractions:
            a = atoms.copy()
            i = int(rng.integers(len(a)))
            a[i].symbol = e
            d = a.get_distances(i, range(len(a)), mic=True, vector=True)
            r = np.linalg.norm(d, axis=1)
            r[i] = np.inf
            j = int(np.argmin(r))
            target = f * 0.5 * (nearest_neighbour_distance(e) + nearest_neighbour_distance(host[j]))
            a.positions[i] += d[j] / r[j] * (r[j] - target)
            out.append(_tag(a, "close-contact", f"{atoms.info.get('name', '')}:{e}-{host[j]}@{f:.2f}"))
    return out


def random_alloys(elements: Sequence[str], rng: np.random.Generator, max_atoms: int, n: int = 4) -> list[Atoms]:
    """Random substitutional alloys on bcc and fcc supercells, lattice constant by Vegard's law."""
    out = []
    d = {e: nearest_neighbour_distance(e) for e in elements}
    for k in range(n):
        kind = ("bcc", "fcc")[k % 2]
        x = rng.dirichlet(np.ones(len(elements)))
        dmean = float(sum(x[i] * d[e] for i, e in enumerate(elements)))
        base = bulk("Cu", kind, a=dmean * _A_OVER_D[kind], cubic=True)
        cell = supercell(base, max_atoms)
        symbols = rng.choice(list(elements), size=len(cell), p=x)
        symbols[: len(elements)] = list(elements)  # every element present at least once
        cell.set_chemical_symbols(list(symbols))
        out.append(_tag(cell, "alloy", f"{''.join(elements)}-{kind}-random{k}"))
    return out


def atomic_volume(element: str) -> float:
    """Volume per atom (Å³) of the element's known ASE phase, else of close packing at twice its covalent radius."""
    try:
        a = bulk(element)
        return float(a.get_volume() / len(a))
    except (ValueError, KeyError, RuntimeError):
        return float(nearest_neighbour_distance(element) ** 3 / np.sqrt(2.0))


_FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
# Cubic binary prototypes: name -> (fractional sites of the first element, of the second). The first
# element is the larger one (by atomic volume): the Laves phase puts it on the diamond sublattice.
ORDERED = {
    "B2": ([[0, 0, 0]], [[0.5, 0.5, 0.5]]),  # CsCl, AB
    "L1_0": ([[0, 0, 0], [0.5, 0.5, 0]], [[0.5, 0, 0.5], [0, 0.5, 0.5]]),  # CuAu (c/a = 1), AB
    "L1_2": (_FCC[1:].tolist(), [[0, 0, 0]]),  # Cu3Au, A3B
    "L1_2'": ([[0, 0, 0]], _FCC[1:].tolist()),  # AB3
    "C15": ((np.array([[0.5, 0.5, 0.5], [0.75, 0.75, 0.75]])[:, None] + _FCC).reshape(-1, 3).tolist(),
            (np.array([[1, 1, 1], [1, 3, 3], [3, 1, 3], [3, 3, 1]])[:, None] / 8 + _FCC).reshape(-1, 3).tolist()),
}


# The hexagonal Laves phases (space group P6_3/mmc, ideal c/a): name -> (c/a, Wyckoff sites of the
# larger element, of the smaller). With C15 they are the commonest intermetallic family, e.g. WBe2.
HEXAGONAL_LAVES = {
    "C14": (np.sqrt(8 / 3), [(1 / 3, 2 / 3, 1 / 16)], [(0, 0, 0), (5 / 6, 2 / 3, 1 / 4)]),  # MgZn2
    "C36": (2 * np.sqrt(8 / 3), [(0, 0, 3 / 32), (1 / 3, 2 / 3, 27 / 32)],  # MgNi2
            [(1 / 3, 2 / 3, 1 / 8), (1 / 2, 0, 0), (1 / 6, 1 / 3, 1 / 4)]),
}


def _at_volume(cell: Atoms, vol: dict[str, float]) -> Atoms:
    """``cell`` scaled to the Vegard volume of its composition (``vol``: volume per atom of each element)."""
    v = sum(vol[s] for s in cell.get_chemical_symbols())
    cell.set_cell(cell.cell * (v / cell.get_volume()) ** (1 / 3), scale_atoms=True)
    return cell


def ordered_alloys(elements: Sequence[str]) -> list[Atoms]:
    """Ordered binary compounds (B2, L1_0, L1_2 both ways, the C15, C14 and C36 Laves phases) of every
    pair of ``elements``, at the volume per atom of a Vegard mix of the elements' known phases."""
    vol = {e: atomic_volume(e) for e in elements}
    out = []
    for i, a in enumerate(elements):
        for b in elements[i + 1:]:
            big, small = (a, b) if vol[a] >= vol[b] else (b, a)
            cells = {}
            for kind, (sites_a, sites_b) in ORDERED.items():
                cells[kind] = Atoms([big] * len(sites_a) + [small] * len(sites_b),
                                    scaled_positions=np.mod(sites_a + sites_b, 1.0), cell=np.eye(3), pbc=True)
            for kind, (c_over_a, sites_a, sites_b) in HEXAGONAL_LAVES.items():
                cells[kind] = crystal([big] * len(sites_a) + [small] * len(sites_b), basis=sites_a + sites_b,
                                      spacegroup=194, cellpar=[1, 1, c_over_a, 90, 90, 120])
            for kind, cell in cells.items():
                cell, label = _at_volume(cell, vol), kind.rstrip("'")
                out.append(_tag(cell, "alloy", f"{cell.get_chemical_formula(empirical=True)}-{label}"))
    return out


def derive(base: Atoms, rng: np.random.Generator, max_atoms: int = 64, surfaces_too: bool = True) -> list[Atoms]:
    """A base cell's supercell plus its strains, shears, a vacancy and (optionally) surfaces."""
    sc = supercell(base, max_atoms)
    out = [sc, *strained(sc), *sheared(sc, rng)]
    if len(sc) > 4:
        out.append(with_vacancy(sc, rng))
    if surfaces_too:
        out += surfaces(base, max_atoms)
    return out


def generate_structures(elements: Sequence[str], seed: int = 0, max_atoms: int = 64,
                        relaxed: dict[str, Atoms] | None = None) -> list[Atoms]:
    """Starting structures for ``elements``: prototypes, known phases and everything derived from them,
    plus ordered compounds of every pair and random alloys when there are several elements. ``relaxed``
    maps a prototype ``name`` to its relaxed cell (e.g. by the teacher), used instead of the guessed one."""
    elements = check_elements(elements)
    rng = np.random.default_rng(seed)
    out: list[Atoms] = []
    for e in elements:
        known = known_phase(e)
        for p in prototypes(e):
            p = (relaxed or {}).get(p.info["name"], p)
            out.append(p)
            derived = derive(p, rng, max_atoms)
            out += derived
            if p.info["name"] != f"{e}-{known}":
                continue
            # the known phase also slips, is pressed into close contacts, and meets the other elements at its surfaces
            out += stacking_faults(p, known, max_atoms)
            out += close_contacts(supercell(p, max_atoms), elements, rng)
            others = [x for x in elements if x != e]
            if others:
                for slab in (a for a in derived if a.info["source"] == "surface"):
                    out += adsorbates(slab, others, rng)
    if len(elements) > 1:
        for alloy in ordered_alloys(elements) + random_alloys(elements, rng, max_atoms):
            alloy = supercell(alloy, max_atoms)
            out.append(alloy)
            out += strained(alloy, (-0.05, 0.05)) + sheared(alloy, rng, n=1)
    return out


def read_structures(path: str | os.PathLike) -> list[Atoms]:
    """Every structure in a file ASE can read (extxyz, cif, POSCAR, ...), tagged ``user``."""
    atoms = read(path, index=":")
    if not atoms:
        raise ValueError(f"{path} holds no structures")
    return [_tag(a, "user", f"{os.path.basename(str(path))}[{i}]") for i, a in enumerate(atoms)]


def one_per_group(structures: Sequence[Atoms]) -> list[Atoms]:
    """The last structure of each ``info["group"]`` (a relaxation run: its most relaxed frame), in order of
    first appearance; structures without a group each stand alone. Frames of one run differ by small
    relaxation steps, so MD from each of them would sample the same ground many times over."""
    last: dict[object, Atoms] = {}
    for i, a in enumerate(structures):
        last[("group", a.info["group"]) if a.info.get("group") not in (None, "") else ("item", i)] = a
    return list(last.values())


def elements_of(structures: Iterable[Atoms]) -> list[str]:
    """Element symbols present in ``structures``, in order of atomic number."""
    zs = sorted({int(z) for a in structures for z in a.numbers})
    return [chemical_symbols[z] for z in zs]
