"""Are fine-tune labels in eV, eV/Å and eV/Å³? Judged from the labels themselves.

Four independent tests, each used only where the frames allow it:

- shapes and physics of single frames: forces one (x, y, z) row per atom summing to ~0 (a transposed
  (3, N) array read as (N, 3) does not), stress a symmetric 3x3 of plausible size;
- energy against forces and stress between nearby frames (consecutive steps of one trajectory):
  ΔE ≈ -F·Δr + Vσ:ε, so the ratio of the two sides is 1 in consistent units and the conversion
  factor otherwise (1000 for meV with eV/Å, 23 for kcal/mol, 1/27 for Hartree); where the cell
  changes, the same balance gives the stress's scale and sign (1/1602 for kbar, -1 for VASP's sign);
- energy per atom against Materials Project's PBE elemental references (isolated atoms against PBE
  isolated-atom energies): formation-like energies of real frames lie between -5 and +1.5 eV/atom, and
  of the unit readings (eV, meV, kcal/mol, kJ/mol, Hartree, Rydberg) usually only one puts them there;
- the base model's forces, only where the labels cannot judge forces (no nearby frames) and the base
  model reproduces the labels' energies, i.e. is reliable on these elements.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Callable, Sequence

import numpy as np
from ase import units
from ase.data import chemical_symbols

from unihub.foundation.data import load_mp_elemental_energies
from unihub.foundation.data.cards import load_card
from unihub.foundation.data.datadir import resolve_file
from unihub.foundation.data.frame import Frame
from unihub.foundation.errors import InputError

#: energy units a label file may carry by mistake: name -> factor to eV
ENERGY_UNITS = {"eV": 1.0, "meV": 1e-3, "kcal/mol": units.kcal / units.mol, "kJ/mol": units.kJ / units.mol,
                "Hartree": units.Hartree, "Rydberg": units.Rydberg}
#: ratios ΔE / (force and stress work) that a unit mix-up produces, with its likely cause
_RATIO_CAUSES = [(1000.0, "energies in meV while forces are in eV/Å"),
                 (units.mol / units.kcal, "energies in kcal/mol while forces are in eV/Å"),
                 (units.mol / units.kJ, "energies in kJ/mol while forces are in eV/Å"),
                 (1 / units.Hartree, "energies in Hartree while forces are in eV/Å"),
                 (1 / units.Rydberg, "energies in Rydberg while forces are in eV/Å"),
                 (1e-3, "forces in meV/Å while energies are in eV"),
                 (units.kcal / units.mol, "forces in kcal/mol/Å while energies are in eV"),
                 (units.Hartree / units.Bohr, "forces in Hartree/Bohr while energies are in eV")]
_OVERRIDE = "pass --no-check-units (check_units=False) if the labels really are eV, eV/Å and eV/Å³"
_MAX_STEP = 0.2  # Å: steps longer than this make the trapezoid rule for ΔE too coarse
_MIN_PAIRS = 3
_FORM_WINDOW = (-5.0, 1.5)  # eV/atom above the elemental references that real structures occupy


class UnitsError(InputError):
    """Fine-tune labels whose units are not eV, eV/Å and eV/Å³, with the likely cause and the fix."""


def _refuse(what: str, fix: str) -> None:
    raise UnitsError(f"{what}; {fix}, or {_OVERRIDE}")


def check_shapes(frames: Sequence[Frame]) -> None:
    """Refuse forces stored transposed and stress that is not a symmetric 3x3 of plausible size."""
    net, net_t, odd_stress = [], [], []
    for f in frames:
        if f.forces is not None and len(f) >= 3:
            size = float(np.sqrt((f.forces ** 2).sum()))
            if size > 1e-3:
                net.append(float(np.linalg.norm(f.forces.sum(axis=0))) / size)
                # the same numbers read as 3×N (all x, then all y, then all z)
                net_t.append(float(np.linalg.norm(f.forces.reshape(3, -1).sum(axis=1))) / size)
        if f.stress is not None:
            s = f.stress
            odd_stress.append(float(np.abs(s - s.T).max()) > 0.05 * float(np.abs(s).max()) + 1e-6)
    # DFT forces sum to ~0 (the drift is removed): a transposed array does so only once read back as 3×N
    # (forces zeroed on fixed atoms break the first sum but not in this way)
    if net and np.median(net) > 0.2 and np.median(net_t) < 0.05:
        _refuse(f"fine-tune forces do not sum to zero over the atoms of a frame (median |ΣF|/|F| {np.median(net):.2f})"
                f" but do ({np.median(net_t):.2g}) when read as 3×N: they are stored transposed (all x, then all y, "
                "then all z)", "store them as one (Fx, Fy, Fz) row per atom, shape (N, 3)")
    if odd_stress and np.mean(odd_stress) > 0.5:
        _refuse("fine-tune stress is not symmetric in most frames, so its 9 or 6 numbers are in another layout "
                "than 3x3 row-major or Voigt xx yy zz yz xz xy", "convert it to a 3x3 in eV/Å³ (ASE sign)")
    big = [float(np.abs(f.stress).max()) for f in frames if f.stress is not None]
    if big and np.median(big) > 5.0:  # 800 GPa; MPtrj's most compressed cells have a median of 0.7
        _refuse(f"fine-tune stress reaches {np.median(big):.3g} in a typical frame, which in eV/Å³ would be "
                f"{np.median(big) / units.GPa:.0f} GPa: it looks like kbar or GPa",
                f"convert it to eV/Å³ (1 GPa = {units.GPa:.3g} eV/Å³, 1 kbar = {0.1 * units.GPa:.3g} eV/Å³)")
    rms = [float(np.sqrt((f.forces ** 2).mean())) for f in frames if f.forces is not None]
    if rms and np.median(rms) > 50.0:
        _refuse(f"fine-tune forces have a typical size of {np.median(rms):.3g}, far above what eV/Å allows: they "
                "look like meV/Å or kcal/mol/Å", "convert them to eV/Å")


def _frac(f: Frame) -> np.ndarray:
    return np.linalg.solve(f.cell.T, f.positions.T).T


def pair_work(a: Frame, b: Frame) -> tuple[float, float, float] | None:
    """(ΔE, force work, stress work) from frame ``a`` to ``b`` if they are nearby steps of one trajectory."""
    if (a.group != b.group or len(a) != len(b) or not np.array_equal(a.numbers, b.numbers)
            or a.energy is None or b.energy is None or a.forces is None or b.forces is None):
        return None
    periodic = bool(a.pbc.all() and b.pbc.all() and abs(np.linalg.det(a.cell)) > 1e-6)
    if periodic:
        ds = _frac(b) - _frac(a)
        ds -= np.round(ds)  # a step never moves an atom half a cell; larger jumps are wraps
        dr = ds @ (0.5 * (a.cell + b.cell))
    else:
        dr = b.positions - a.positions
    if float(np.abs(dr).max()) > _MAX_STEP:
        return None
    work_f = -float((0.5 * (a.forces + b.forces) * dr).sum())
    work_s = 0.0
    if periodic and a.stress is not None and b.stress is not None:
        eps = np.linalg.solve(a.cell, b.cell) - np.eye(3)  # b.cell = a.cell (1 + ε), cell vectors as rows
        vs = 0.5 * (a.stress * abs(np.linalg.det(a.cell)) + b.stress * abs(np.linalg.det(b.cell)))
        work_s = float((vs * 0.5 * (eps + eps.T)).sum())
    elif not np.allclose(a.cell, b.cell):
        return None
    return b.energy - a.energy, work_f, work_s


def _pairs(frames: Sequence[Frame]) -> np.ndarray:
    """Rows (ΔE, force work, stress work) of the nearby pairs whose work is above DFT noise (~1 meV)."""
    rows = []
    for a, b in zip(frames[:-1], frames[1:]):
        w = pair_work(a, b)
        if w is not None and abs(w[1]) + abs(w[2]) > 1e-3 * max(1, len(a)) ** 0.5:
            rows.append(w)
    return np.array(rows).reshape(-1, 3)


_STRESS_CAUSES = [(1.0, ""), (0.1 * units.GPa, "stress in kbar"), (units.GPa, "stress in GPa"),
                  (-1.0, "stress with the opposite sign (VASP/LAMMPS pressure positive; ASE's tension is positive)")]


def energy_force_ratio(frames: Sequence[Frame]) -> dict | None:
    """Balance ΔE against the work of forces and stress over nearby frame pairs; None if too few pairs.

    ``ratio``: median ΔE / (W_forces + W_stress), ~1 in consistent units (0.8-1.2 on real PBE sets);
    ``misfit``: for each (energy/force factor, stress factor) of a known unit mix-up, the median
    |ΔE - r (W_forces + s W_stress)|, so the mix-up that explains the labels best can be named.
    """
    rows = _pairs(frames)
    if len(rows) < _MIN_PAIRS:
        return None
    d_e, wf, ws = rows.T
    cell_steps = int((np.abs(ws) > np.abs(wf)).sum())
    stress = _STRESS_CAUSES if cell_steps >= _MIN_PAIRS else _STRESS_CAUSES[:1]
    misfit = {(r, s): float(np.median(np.abs(d_e - r * (wf + s * ws))))
              for r, _ in [(1.0, ""), *_RATIO_CAUSES] for s, _ in stress}
    return {"ratio": float(np.median(d_e / (wf + ws))), "pairs": len(rows), "misfit": misfit}


def _cause(r: float, s: float) -> str:
    causes = [dict(_RATIO_CAUSES).get(r, ""), dict(_STRESS_CAUSES).get(s, "")]
    return " and ".join(c for c in causes if c)


def check_consistency(found: dict | None, energy_ok: bool = False) -> str:
    """Refuse energies that disagree with forces, or stress with both, between nearby frames (``found``:
    ``energy_force_ratio``'s answer); returns a note. ``energy_ok``: the energies' size already fits eV,
    so an energy/force mismatch is blamed on the forces."""
    if found is None:
        return "no nearby frames to compare energies with forces"
    ratio, n, misfit = found["ratio"], found["pairs"], found["misfit"]
    allowed = {k: v for k, v in misfit.items()
               if not energy_ok or k[0] == 1.0 or dict(_RATIO_CAUSES)[k[0]].startswith("forces")}
    best = min(allowed, key=allowed.get)
    # a mix-up is named only if it explains the steps clearly better than consistent units do
    if best != (1.0, 1.0) and allowed[best] < 0.5 * misfit[(1.0, 1.0)]:
        _refuse(f"between {n} pairs of nearby frames the energy changes do not match the work of forces and "
                f"stress (ΔE ≈ -F·Δr + Vσ:ε; median ratio {ratio:.4g}), but do with {_cause(*best)}",
                "convert energies to eV, forces to eV/Å and stress to eV/Å³ with ASE's sign (tension positive)")
    if not 1 / 3 < ratio < 3:  # unit mix-ups are factors of 13.6 and more
        _refuse(f"between {n} pairs of nearby frames the energy changes {ratio:.4g}× the work of forces and "
                "stress (ΔE ≈ -F·Δr + Vσ:ε): energies, forces or stress are in units that do not match",
                "convert energies to eV, forces to eV/Å and stress to eV/Å³")
    return f"energy/force/stress consistency {ratio:.3f} over {n} nearby pairs"


def _isolated(f: Frame) -> bool:
    return len(f) == 1 and (not f.pbc.all() or float(np.linalg.norm(f.cell, axis=1).min()) > 6.0)


def formation_scores(frames: Sequence[Frame], refs: dict[str, float],
                     atoms: dict[str, float] | None = None) -> dict[str, tuple[float, float]]:
    """Per energy unit: (fraction of frames whose energy per atom lies -5..+1.5 eV above the elemental
    references, or an isolated atom's within 1 eV of its isolated-atom reference; median energy above
    the elemental references). Frames with elements the references lack are skipped."""
    rows = []
    for f in frames:
        symbols = [chemical_symbols[z] for z in f.numbers]
        if f.energy is None or any(s not in refs for s in symbols):
            continue
        iso = (atoms or {}).get(symbols[0]) if _isolated(f) else None
        if _isolated(f) and iso is None:
            continue
        rows.append((f.energy / len(f), float(np.mean([refs[s] for s in symbols])), iso is not None,
                     np.nan if iso is None else iso))
    if not rows:
        return {}
    e, mu, lone, iso = (np.array(c) for c in zip(*rows))
    lone = lone.astype(bool)
    out = {}
    for unit, factor in ENERGY_UNITS.items():
        t = e * factor - mu
        inside = np.where(lone, np.abs(e * factor - iso) <= 1.0, (t >= _FORM_WINDOW[0]) & (t <= _FORM_WINDOW[1]))
        out[unit] = (float(inside.mean()), float(np.median(t)))
    return out


def check_energy_scale(frames: Sequence[Frame], refs: dict[str, float] | None, ratio: float | None = None,
                       atoms: dict[str, float] | None = None) -> str:
    """Refuse energies per atom that only another unit puts among real structures; returns a note.
    ``ratio``: ΔE over force work between nearby frames, which tells Hartree from Rydberg where both fit;
    ``atoms``: isolated-atom energies, to judge isolated-atom frames (E0 references) too."""
    scores = formation_scores(frames, refs or {}, atoms)
    if not scores:
        return "no elemental references for these elements"
    ev_frac, ev_med = scores["eV"]
    if ev_frac >= 0.5:
        return f"energy per atom {ev_med:+.2f} eV above the elemental references (median)"
    # Hartree and Rydberg (a factor 2) can both fit: the energy/force ratio (1/factor with forces in eV/Å)
    # decides, else the median nearer the middle of real sets (-2.4 to +1.3 eV/atom)
    def rank(u: str) -> tuple:
        told = ratio is not None and abs(np.log(ratio * ENERGY_UNITS[u])) < np.log(1.6)
        return not told, abs(scores[u][1] + 0.5)

    fits = sorted((u for u, (frac, _) in scores.items() if u != "eV" and frac >= 0.5 and frac > ev_frac), key=rank)
    if not fits:
        # another code's energy zero (all-electron, other pseudopotentials) is not a unit error
        return (f"energies sit {ev_med:+.1f} eV/atom from the VASP-PBE elemental references in no known unit: "
                "another code's energy zero; the reference energies are re-fitted")
    also = f" (or {', '.join(fits[1:])})" if len(fits) > 1 else ""
    _refuse(f"read as eV, the fine-tune energies lie a median {ev_med:+.4g} eV/atom from Materials Project's PBE "
            f"elemental references, where real structures lie {_FORM_WINDOW[0]:+g} to {_FORM_WINDOW[1]:+g}; read as "
            f"{fits[0]}{also} they lie at {scores[fits[0]][1]:+.2f}: the energies look like {fits[0]}",
            f"convert them to eV (× {ENERGY_UNITS[fits[0]]:g})")
    return ""


def check_with_base(frames: Sequence[Frame], predict: Callable[[Sequence[Frame]], list[dict]]) -> str:
    """Compare force scales with the base model's, only if it reproduces the labels' energies per atom."""
    preds = predict(frames)
    de = [abs(p["energy"] - f.energy) / len(f) for f, p in zip(frames, preds)]
    if np.median(de) > 0.15:
        return f"base model not used: its energies are {np.median(de):.2f} eV/atom off these labels"
    data = np.concatenate([f.forces.ravel() for f in frames])
    model = np.concatenate([p["forces"].ravel() for p in preds])
    if not np.any(model) or not np.any(data):
        return "base model forces are zero"
    ratio = float(np.sqrt(np.mean(data ** 2) / np.mean(model ** 2)))
    if not 0.1 < ratio < 10:
        _refuse(f"fine-tune forces are {ratio:.3g}× the base model's, which matches their energies to "
                f"{1000 * np.median(de):.0f} meV/atom; that looks like forces in another unit "
                "(kcal/mol/Å is 23×, Hartree/Bohr 51×, meV/Å 1000× eV/Å)", "convert them to eV/Å")
    return f"forces {ratio:.2f}× the base model's"


@functools.lru_cache(maxsize=1)
def elemental_references() -> dict[str, float] | None:
    """Materials Project's PBE elemental energies (eV/atom) from the data directory, or None if absent."""
    try:
        return load_mp_elemental_energies()
    except (OSError, ValueError):  # no data directory, offline: the other checks still run
        return None


@functools.lru_cache(maxsize=1)
def isolated_references() -> dict[str, float] | None:
    """PBE isolated-atom energies (eV): half the energy of each homonuclear dimer at its longest distance
    (6 Å, within 29 meV of MatPES's isolated atoms) from the ``diatomics`` dataset, or None if absent."""
    try:
        card = load_card("diatomics")
        with gzip.open(resolve_file(card, card.files[0])) as fh:
            curves = json.load(fh)["PBE"]
    except (OSError, ValueError, KeyError):
        return None
    out = {}
    for pair, curve in curves.items():
        a, _, b = pair.partition("-")
        if a == b and curve.get("distances"):
            far = int(np.argmax(curve["distances"]))
            out[a] = float(curve["energies"][far]) / 2
    return out


def check_labels(frames: Sequence[Frame], predict: Callable | None = None, refs: dict[str, float] | None = None,
                 atoms: dict[str, float] | None = None) -> list[str]:
    """Refuse labels that are not in eV, eV/Å and eV/Å³ (``UnitsError`` naming the likely cause);
    return notes on what was checked. ``predict(frames)`` gives the base model's predictions; ``refs`` /
    ``atoms`` replace the elemental / isolated-atom references of the data directory."""
    labelled = [f for f in frames if f.energy is not None and f.forces is not None]
    check_shapes(labelled)
    pairs = energy_force_ratio(labelled)
    # the size of the energies names an energy unit directly, so it is judged before the pairs
    scale = check_energy_scale(labelled, refs if refs is not None else elemental_references(),
                               pairs["ratio"] if pairs else None, atoms if atoms is not None else isolated_references())
    notes = [check_consistency(pairs, energy_ok=scale.startswith("energy per atom")), scale]
    if predict is not None and notes[0].startswith("no nearby"):
        notes.append(check_with_base(labelled[:64], predict))
    return notes
