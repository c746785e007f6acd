"""Small labelled frames from ASE's EMT (real energies, forces and stresses; no data files needed)."""

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from unihub.foundation.data.frame import Frame


def emt_frames(n: int = 24, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        el = ["Cu", "Al", "Ni"][k % 3]
        a = bulk(el, "fcc", {"Cu": 3.61, "Al": 4.05, "Ni": 3.52}[el] * rng.uniform(0.97, 1.03), cubic=True)
        if k % 2:
            a = a.repeat((2, 1, 1))
            a.numbers[0] = 29 if el != "Cu" else 13
        a.rattle(0.05, seed=int(rng.integers(1 << 30)))
        a.calc = EMT()
        a.get_potential_energy(), a.get_forces(), a.get_stress()  # fill calc.results
        frames.append(Frame.from_atoms(a, fidelity="pbe", dataset="emt", group=f"g{k}",
                                       split="val" if k % 6 == 5 else "train"))
    return frames
