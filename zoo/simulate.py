"""Relaxation and molecular dynamics with any hub model's calculator, with progress bars."""

from __future__ import annotations

import numpy as np
from ase import units


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def relax(atoms, fmax: float = 0.05, cell: bool = True, steps: int = 500, calculator=None,
          trajectory: str | None = None, progress: bool = True) -> dict:
    """FIRE (+ FrechetCellFilter when ``cell``) until max force < ``fmax`` eV/Å; ``atoms`` is updated.

    Returns energy, steps taken, converged flag and the final max force.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    if calculator is not None:
        atoms.calc = calculator
    if atoms.calc is None:
        raise ValueError("atoms has no calculator: pass calculator=model.calculator()")
    target = FrechetCellFilter(atoms) if cell and atoms.pbc.all() else atoms
    opt = FIRE(target, logfile=None, trajectory=trajectory)
    bar = _progress(steps, "relax", progress)
    opt.attach(lambda: bar.update(1))
    converged = bool(opt.run(fmax=fmax, steps=steps))
    bar.close()
    forces = atoms.get_forces()
    return {"energy": float(atoms.get_potential_energy()), "steps": int(opt.nsteps), "converged": converged,
            "fmax": float(np.linalg.norm(forces, axis=1).max())}


def md(atoms, temperature: float, steps: int, ensemble: str = "nvt", timestep: float = 1.0,
       calculator=None, trajectory: str | None = None, pressure_gpa: float = 0.0, friction: float = 0.01,
       loginterval: int = 10, seed: int = 0, progress: bool = True) -> dict:
    """Run ``steps`` of NVE (velocity Verlet), NVT (Langevin) or NPT (Berendsen) at ``temperature`` K.

    ``timestep`` in fs, ``friction`` in 1/fs. Returns temperature/energy traces sampled every
    ``loginterval`` steps, and the NVE drift per atom when ``ensemble == "nve"``.
    """
    from ase.md.langevin import Langevin
    from ase.md.nptberendsen import NPTBerendsen
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    if calculator is not None:
        atoms.calc = calculator
    if atoms.calc is None:
        raise ValueError("atoms has no calculator: pass calculator=model.calculator()")
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    dt = timestep * units.fs
    kind = ensemble.lower()
    if kind == "nve":
        dyn = VelocityVerlet(atoms, dt, trajectory=trajectory, loginterval=loginterval)
    elif kind == "nvt":
        dyn = Langevin(atoms, dt, temperature_K=temperature, friction=friction / units.fs, rng=rng,
                       trajectory=trajectory, loginterval=loginterval)
    elif kind == "npt":
        if not atoms.pbc.all():
            raise ValueError("NPT needs a periodic cell")
        dyn = NPTBerendsen(atoms, dt, temperature_K=temperature, pressure_au=pressure_gpa * units.GPa,
                           taut=100 * units.fs, taup=1000 * units.fs, compressibility_au=4.57e-5 / units.bar,
                           trajectory=trajectory, loginterval=loginterval)
    else:
        raise ValueError(f"unknown ensemble {ensemble!r}; use 'nve', 'nvt' or 'npt'")
    trace = {"step": [], "temperature": [], "energy": [], "volume": []}

    def record() -> None:
        trace["step"].append(int(dyn.nsteps))
        trace["temperature"].append(float(atoms.get_temperature()))
        trace["energy"].append(float(atoms.get_total_energy()))
        trace["volume"].append(float(atoms.get_volume()) if atoms.pbc.all() else float("nan"))

    dyn.attach(record, interval=loginterval)
    bar = _progress(steps, f"md {kind} {temperature:g} K", progress)
    dyn.attach(lambda: bar.update(1))
    dyn.run(steps)
    bar.close()
    out = {k: np.asarray(v) for k, v in trace.items()}
    if kind == "nve" and len(out["energy"]) > 1:
        t_ps = out["step"] * timestep / 1000
        slope = np.polyfit(t_ps, out["energy"] / len(atoms), 1)[0]
        out["drift_ev_per_atom_ps"] = float(slope)
    return out
