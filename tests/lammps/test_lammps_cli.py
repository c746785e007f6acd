"""The plugin build (cached, atomic) and the CLI hooks: `unihub lammps build`, `unihub md --engine lammps`."""

from ase.io import read, write
from lmp_testlib import alloy, requires_lammps

from unihub.cli import build_parser

pytestmark = requires_lammps


def test_build_is_cached_and_cli_prints_the_path(plugin, capsys):
    from unihub.finetune.mtp.lammps import build_plugin

    stamp = plugin.stat().st_mtime_ns
    assert build_plugin() == plugin and plugin.stat().st_mtime_ns == stamp  # no rebuild
    assert not list(plugin.parent.glob("*.tmp"))
    args = build_parser().parse_args(["lammps", "build"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(plugin)


def test_md_engine_lammps(sigec, tmp_path, capsys):
    _, path = sigec
    structure = tmp_path / "in.extxyz"
    write(structure, alloy(seed=10, repeat=2, rattle=0.02, elements=("Si", "Ge", "C")))
    traj = tmp_path / "out.extxyz"
    args = build_parser().parse_args(["md", str(structure), "--model", str(path), "--engine", "lammps", "--steps", "20",
                                 "--ensemble", "nve", "--temperature", "100", "--thermo", "10",
                                 "--trajectory", str(traj)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "final T" in out and "NVE drift" in out
    assert len(read(traj, ":")) == 3  # steps 0, 10, 20


def test_lammps_commands_run_a_cored_student(sigec, plugin, tmp_path, capsys):
    """`unihub lammps commands` prints the lines a user pastes into an input: with them LAMMPS gives the energy
    Python gives, core and floor included; an element the student lacks is refused by name."""
    import numpy as np
    import pytest

    from unihub.finetune.mtp.lammps.evaluate import evaluate
    from unihub.finetune.mtp.model import MTPModel
    from unihub.finetune.mtp.repulsion import CoreRepulsion

    m = MTPModel.load(sigec[1])
    m.core = CoreRepulsion(tuple(m.elements), np.full((3, 3), 1.5), np.full((3, 3), 2.1))
    path = tmp_path / "cored.mtp"
    m.save(path)
    def commands(*types):
        args = build_parser().parse_args(["lammps", "commands", str(path), *types])
        assert args.func(args) == 0
        return capsys.readouterr().out.strip().splitlines()

    lines = commands("C", "Si", "Ge")
    assert lines[1].startswith("pair_style hybrid/overlay unihub/mtp floor") and len(lines) == 3 + 6
    assert len(commands("C", "NULL", "Si")) == 3 + 3  # a NULL type gets no table pairs
    atoms = alloy(seed=8, repeat=2, rattle=0.1, elements=("Si", "Ge", "C"))
    atoms.positions[1] = atoms.positions[0] + [1.7, 0, 0]
    (res,) = evaluate([atoms], lines, ["C", "Si", "Ge"])
    assert res["energy"] == pytest.approx(m.predict([atoms])[0]["energy"], rel=1e-6)
    with pytest.raises(ValueError, match=r"\['Sn'\] are not in the core table"):
        commands("Sn")
