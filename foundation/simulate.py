"""Relaxation and molecular dynamics with any hub model's calculator, with progress bars.

ASE ``Atoms`` are updated in place; a pymatgen ``Structure`` is converted and the final ``Atoms`` is
returned under ``"atoms"``. MD stops with :class:`MDExplosionError` when the run leaves physics
(temperature far above its target, non-finite energy, atoms closer than the overlap guard).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from ase import Atoms, units
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.md.nptberendsen import NPTBerendsen
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE
from tqdm.auto import tqdm

from unihub.foundation.errors import InputError, UnihubError
from unihub.foundation.graph import as_ase
from unihub.foundation.neighbors import pair_distances
from unihub.foundation.validate import MIN_DISTANCE

MAX_TIMESTEP_FS = 10.0  # beyond this no interatomic potential integrates stably


class MDExplosionError(UnihubError, RuntimeError):
    """An MD run left physics: it says what happened, at which step, and what to change."""


def _progress(total: int, desc: str, enabled: bool):
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def relax(atoms, fmax: float = 0.05, cell: bool = True, steps: int = 500, calculator=None,
          trajectory: str | None = None, progress: bool = True) -> dict:
    """FIRE (+ FrechetCellFilter when ``cell``) until max force < ``fmax`` eV/Å; ``atoms`` is updated.

    Returns energy, steps taken, converged flag and the final max force.
    """
    atoms = _atoms(atoms, calculator)
    if not (fmax > 0 and math.isfinite(fmax)):
        raise InputError(f"fmax must be a positive force in eV/Å, got {fmax}")
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps}")
    target = FrechetCellFilter(atoms) if cell and atoms.pbc.all() else atoms
    opt = FIRE(target, logfile=None, trajectory=trajectory)
    bar = _progress(steps, "relax", progress)
    opt.attach(lambda: bar.update(1))
    converged = bool(opt.run(fmax=fmax, steps=steps))
    bar.close()
    forces = atoms.get_forces()
    return {"energy": float(atoms.get_potential_energy()), "steps": int(opt.nsteps), "converged": converged,
            "fmax": float(np.linalg.norm(forces, axis=1).max()), "atoms": atoms}


def md(atoms, temperature: float, steps: int, ensemble: str = "nvt", timestep: float = 1.0,
       calculator=None, trajectory: str | None = None, pressure_gpa: float = 0.0, friction: float = 0.01,
       loginterval: int = 10, seed: int = 0, progress: bool = True,
       observe: Callable[[Atoms, int], bool | None] | None = None, fixcm: bool = True, taup: float = 1000.0,
       guard: bool = True) -> dict:
    """Run ``steps`` of NVE (velocity Verlet), NVT (Langevin) or NPT (Berendsen) at ``temperature`` K.

    ``timestep`` and ``taup`` (the barostat's time constant) in fs, ``friction`` in 1/fs; ``fixcm`` keeps
    the centre of mass still under Langevin. Every ``loginterval`` steps the temperature/energy traces are
    sampled and ``observe(atoms, step)`` is called, which may return False to end the run there (sampling
    keeps snapshots and stops where a potential leaves its data). ``guard`` stops a run that leaves physics
    with :class:`MDExplosionError`; without it a run that does so goes on (a student's MD that the caller
    watches itself). Returns the traces, ``steps`` taken, and the NVE drift per atom when ``ensemble == "nve"``.
    """
    atoms = _atoms(atoms, calculator)
    _check_md_args(temperature, steps, timestep, friction, loginterval)
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    kind = ensemble.lower()
    dyn = _integrator(atoms, kind, temperature, timestep, pressure_gpa, friction, rng, fixcm, taup, trajectory,
                      loginterval)
    trace = {"step": [], "temperature": [], "energy": [], "volume": []}

    def record() -> None:
        trace["step"].append(int(dyn.nsteps))
        trace["temperature"].append(float(atoms.get_temperature()))
        trace["energy"].append(float(atoms.get_total_energy()))
        trace["volume"].append(float(atoms.get_volume()) if atoms.pbc.all() else float("nan"))
        if guard:
            check_md_state(atoms, int(dyn.nsteps), temperature, timestep, trace["temperature"][-1],
                           trace["energy"][-1])

    dyn.attach(record, interval=loginterval)
    bar = _progress(steps, f"md {kind} {temperature:g} K", progress)
    dyn.attach(lambda: bar.update(1))
    for _ in dyn.irun(steps):
        n = int(dyn.nsteps)
        # the observer sees every loginterval-th step and the last one, not the start
        if observe is not None and n and (n % loginterval == 0 or n == steps) and observe(atoms, n) is False:
            break
    bar.close()
    out: dict = {k: np.asarray(v) for k, v in trace.items()}
    out["atoms"], out["steps"] = atoms, int(dyn.nsteps)
    if kind == "nve" and len(out["energy"]) > 1:
        t_ps = out["step"] * timestep / 1000
        slope = np.polyfit(t_ps, out["energy"] / len(atoms), 1)[0]
        out["drift_ev_per_atom_ps"] = float(slope)
    return out


def _integrator(atoms: Atoms, kind: str, temperature: float, timestep: float, pressure_gpa: float, friction: float,
                rng: np.random.Generator, fixcm: bool, taup: float, trajectory: str | None, loginterval: int):
    """The ASE dynamics of one ensemble (``md``'s arguments)."""
    dt = timestep * units.fs
    if kind == "nve":
        return VelocityVerlet(atoms, dt, trajectory=trajectory, loginterval=loginterval)
    if kind == "nvt":
        return Langevin(atoms, dt, temperature_K=temperature, friction=friction / units.fs, rng=rng, fixcm=fixcm,
                        trajectory=trajectory, loginterval=loginterval)
    if kind == "npt":
        if not atoms.pbc.all():
            raise InputError("NPT needs a periodic cell")
        return NPTBerendsen(atoms, dt, temperature_K=temperature, pressure_au=pressure_gpa * units.GPa,
                            taut=100 * units.fs, taup=taup * units.fs, compressibility_au=4.57e-5 / units.bar,
                            trajectory=trajectory, loginterval=loginterval)
    raise InputError(f"unknown ensemble {kind!r}; use 'nve', 'nvt' or 'npt'")


def _atoms(structure, calculator) -> Atoms:
    atoms = as_ase(structure)
    if calculator is not None:
        atoms.calc = calculator
    if atoms.calc is None:
        raise InputError("atoms has no calculator: pass calculator=model.calculator()")
    return atoms


def _check_md_args(temperature: float, steps: int, timestep: float, friction: float, loginterval: int) -> None:
    if not (math.isfinite(temperature) and temperature >= 0):
        raise InputError(f"temperature must be >= 0 K, got {temperature}")
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps}")
    if not (0 < timestep <= MAX_TIMESTEP_FS):
        raise InputError(f"timestep must be in (0, {MAX_TIMESTEP_FS:g}] fs, got {timestep} fs (1-2 fs is usual; "
                         "0.5 fs with hydrogen)")
    if not (friction > 0 and math.isfinite(friction)):
        raise InputError(f"friction must be > 0 (1/fs), got {friction}")
    if loginterval < 1:
        raise InputError(f"loginterval must be >= 1, got {loginterval}")


def check_md_state(atoms: Atoms, step: int, target_temperature: float, timestep: float, temperature: float,
                   energy: float) -> None:
    """Raise :class:`MDExplosionError` when a run left physics (called every ``loginterval`` steps)."""
    hint = f"lower the timestep (now {timestep:g} fs) or the temperature, or check the structure"
    if not math.isfinite(energy) or not math.isfinite(temperature):
        raise MDExplosionError(f"MD stopped at step {step}: the energy or temperature is not finite; {hint}")
    limit = max(5.0 * target_temperature, target_temperature + 5000.0)
    if temperature > limit:
        raise MDExplosionError(f"MD stopped at step {step}: temperature {temperature:.0f} K is beyond "
                               f"{limit:.0f} K for a {target_temperature:g} K run; {hint}")
    if len(atoms) > 1:
        _, _, d = pair_distances(atoms, MIN_DISTANCE)
        if len(d):
            raise MDExplosionError(f"MD stopped at step {step}: two atoms are {d.min():.3f} Å apart (< "
                                   f"{MIN_DISTANCE} Å, the overlap guard); {hint}")
