"""run_md: energy conservation, 1 vs 2 MPI ranks, results in the caller's frame."""

import numpy as np
import pytest
from ase.build import bulk
from lmp_testlib import alloy, rel_err, requires_lammps

pytestmark = requires_lammps


def _si(repeat: int = 3):
    a = bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
    a.rattle(0.02, seed=0)
    return a


def test_nve_conserves_energy(si_fitted):
    from unihub.finetune.mtp.lammps import run_md

    _, path = si_fitted
    atoms = _si(3)
    res = run_md(path, atoms, 2000, temperature=600.0, timestep=1.0, ensemble="nve", thermo=20)
    e = res.thermo["etotal"]
    n = len(atoms)
    print(f"\nNVE 216 Si, 2 ps at dt=1 fs: drift {res.drift_ev_per_atom_ps:.2e} eV/atom/ps, "
          f"E_tot spread {(e.max() - e.min()) / n:.2e} eV/atom, <T> {res.thermo['temp'][50:].mean():.0f} K")
    assert res.thermo["step"][-1] == 2000
    assert res.thermo["temp"][50:].mean() > 100  # it really moved
    assert abs(res.drift_ev_per_atom_ps) < 1e-4
    assert (e.max() - e.min()) / n < 1e-3


@pytest.mark.parametrize("newton", [True, False], ids=["newton-on", "newton-off"])
def test_one_and_two_ranks_agree(si_fitted, newton):
    from unihub.finetune.mtp.lammps import run_md

    _, path = si_fitted
    atoms = _si(3)
    kw = dict(steps=100, temperature=600.0, timestep=1.0, ensemble="nve", thermo=10, dump=10)
    one = run_md(path, atoms, ranks=1, **kw)
    two = run_md(path, atoms, ranks=2, newton=newton, **kw)
    assert len(one.frames) == len(two.frames) == 11
    f0 = one.frames[0].get_forces()
    assert np.abs(f0).max() > 0.1
    assert rel_err(two.frames[0].get_forces(), f0) < 1e-10
    assert rel_err(two.thermo["pe"], one.thermo["pe"]) < 1e-10
    for a, b in zip(one.frames, two.frames):
        d = a.positions - b.positions
        d -= np.round(d @ np.linalg.inv(a.cell[:])) @ a.cell[:]  # wrapped on different ranks
        assert np.abs(d).max() < 1e-9, a.info["timestep"]
    d = one.frames[-1].positions - one.frames[0].positions
    assert np.abs(d).max() > 0.01  # atoms moved: the comparison is not trivially of a still system


def test_frames_are_in_callers_frame(sigec):
    """A cell that is not LAMMPS' lower-triangular one: ASE rotates it in, run_md rotates back."""
    from unihub.finetune.mtp.lammps import run_md

    model, path = sigec
    atoms = alloy(seed=9, repeat=2, rattle=0.05, elements=("Ge", "C", "Si"))
    atoms.rotate(30, "z", rotate_cell=True)
    atoms.rotate(20, "x", rotate_cell=True)
    res = run_md(path, atoms, 0, temperature=0.0, ensemble="nve", dump=1)
    (frame,) = res.frames
    ref = model.predict([atoms])[0]
    assert frame.get_chemical_symbols() == atoms.get_chemical_symbols()
    d = frame.positions - atoms.positions
    d -= np.round(d @ np.linalg.inv(atoms.cell[:])) @ atoms.cell[:]
    assert np.abs(d).max() < 1e-10
    assert rel_err(frame.get_forces(), ref["forces"]) < 1e-10
    assert rel_err(res.thermo["pe"][0], ref["energy"]) < 1e-10


def test_run_md_refuses_foreign_elements(sigec):
    from unihub.finetune.mtp.lammps import run_md

    _, path = sigec
    with pytest.raises(ValueError, match=r"\['Cu'\] are not in"):
        run_md(path, bulk("Cu", "fcc", a=3.6), 10)


def test_loop_time_peak_memory_and_another_pair_style(si16):
    """The timing a benchmark reads: LAMMPS' loop time, each rank's peak RSS; LAMMPS' own SW Si in the same run_md."""
    from unihub.finetune.mtp.lammps import run_md
    from unihub.finetune.mtp.lammps.reference import sw_si_pair_commands

    _, path = si16
    atoms = _si(2)
    res = run_md(path, atoms, 10, ensemble="nve", ranks=2, peak_memory=True)
    loop = res.loop
    assert (loop.ranks, loop.steps, loop.atoms) == (2, 10, len(atoms)) and loop.seconds > 0
    assert loop.us_per_atom_step_core == pytest.approx(2 * 1e6 * loop.seconds / (10 * len(atoms)))
    assert len(res.peak_mib_per_rank) == 2 and min(res.peak_mib_per_rank) > 1
    sw = run_md(None, atoms, 10, ensemble="nve", pair_commands=sw_si_pair_commands(), elements=["Si"])
    assert sw.loop.steps == 10 and sw.peak_mib_per_rank == []  # one rank in process: no memory asked for
    assert abs(sw.thermo["pe"][0] / len(atoms) + 4.33) < 0.05  # SW Si's cohesive energy, not the student's
    with pytest.raises(ValueError, match="needs elements"):
        run_md(None, atoms, 10, pair_commands=sw_si_pair_commands())


def test_a_run_lammps_stops_keeps_the_frames_before(si16):
    """Atoms at 10^7 K with 20 fs steps leave the box in one step: LAMMPS stops on lost atoms, and the error
    carries the frames dumped before it (here the start)."""
    from unihub.finetune.mtp.lammps import MDFailed, run_md

    _, path = si16
    atoms = _si(1)
    with pytest.raises(MDFailed, match="Lost atoms") as err:
        run_md(path, atoms, 50, temperature=1e7, timestep=20.0, ensemble="nve", thermo=1, dump=1)
    frames = err.value.frames
    assert len(frames) >= 1
    from ase.geometry import find_mic

    moved, _ = find_mic(frames[0].positions - atoms.positions, atoms.cell, atoms.pbc)  # the dump wraps positions
    np.testing.assert_allclose(moved, 0.0, atol=1e-8)
