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
