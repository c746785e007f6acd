"""Is the potential smooth and sane near equilibrium? Si Γ phonons by finite displacements of three sizes
(a cusp makes them depend on the step), the force on one displaced atom, and Si prototype phases relaxed.

    python bench/smoothness.py [--model universal-v1] [--model runs/universal-v1/model ...]

DFT (PBE) reference: Si Γ optical phonon 15.5 THz; diamond is the ground state, about 0.3-0.5 eV/atom
below the close-packed phases.
"""

from __future__ import annotations

import argparse
import time

from ase.build import bulk
from record import write_record


def gamma_optical_thz(model, h: float) -> float:
    """Highest Γ frequency (THz) of the relaxed 2-atom diamond-Si cell, central differences with step h (Å)."""
    from unihub.foundation.phonons import gamma_frequencies
    from unihub.foundation.simulate import relax

    a = bulk("Si", "diamond", 5.43)
    relax(a, fmax=1e-4, cell=True, steps=200, calculator=model.calculator(), progress=False)
    return float(gamma_frequencies(model, a, delta=h).max())


def restoring_force(calc, d: float) -> float:
    """Force (eV/Å) on one atom of cubic diamond Si displaced by d along x (zero at d = 0 by symmetry)."""
    a = bulk("Si", "diamond", 5.43, cubic=True)
    a.positions[0, 0] += d
    a.calc = calc
    return float(a.get_forces()[0, 0])


def phases(calc) -> dict:
    """Energy per atom (eV) and volume per atom (Å³) of Si prototypes relaxed by the model."""
    from unihub.finetune.distillation.structures import prototypes
    from unihub.foundation.simulate import relax

    out = {}
    for p in prototypes("Si"):
        a = p.copy()
        relax(a, fmax=0.02, cell=True, steps=150, calculator=calc, progress=False)
        a.calc = calc
        out[p.info["name"]] = (a.get_potential_energy() / len(a), a.get_volume() / len(a))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="repeatable; default universal-v1")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    import torch

    from unihub.zoo import load_model

    torch.set_num_threads(a.threads)
    t0, figures = time.perf_counter(), {}
    for name in a.model or ["universal-v1"]:
        model = load_model(name)
        calc = model.calculator()
        g = {h: gamma_optical_thz(model, h) for h in (0.005, 0.01, 0.03)}
        k = {d: -restoring_force(calc, d) / d for d in (0.005, 0.05, 0.3)}
        print(f"{name}: Si Γ optical (THz) at 0.005/0.01/0.03 Å steps " + " / ".join(f"{v:.1f}" for v in g.values())
              + "; one-atom stiffness F/d (eV/Å²) at 0.005/0.05/0.3 Å " + " / ".join(f"{v:.1f}" for v in k.values()))
        ph = phases(calc)
        print("   relaxed Si phases (eV/atom, Å³/atom): " + ", ".join(
            f"{n.split('-', 1)[1]} {e:.2f} ({v:.1f})" for n, (e, v) in ph.items()), flush=True)
        figures[name] = {"gamma_optical_THz": {f"step_{h:g}_A": v for h, v in g.items()},
                         "stiffness_eV_A2": {f"displacement_{d:g}_A": v for d, v in k.items()},
                         "relaxed_phases": {n.split("-", 1)[1]: {"energy_eV_atom": e, "volume_A3_atom": v}
                                            for n, (e, v) in ph.items()}}
    print(write_record("smoothness", figures, a.threads, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
