"""The ``unihub`` command line: one module above the packages, whose parser loads no heavy package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from unihub.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("train", "pack", "finetune", "demo", "publish", "release", "list", "md", "lammps", "distill",
               "label", "report")
# packages the parser must not need: each costs seconds to import, and some are optional
HEAVY = ("torch", "lightning", "pytorch_lightning", "torch_geometric", "lammps", "chgnet", "sevenn", "e3nn")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_building_the_parser_imports_no_heavy_package():
    r = _python(f"import sys, unihub.cli as c; c.build_parser(); print([m for m in {HEAVY!r} if m in sys.modules])")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


def test_help_lists_every_subcommand_without_torch():
    r = _python("import sys; from unihub.cli import main; code = main(['--help']); "
                "print('torch' in sys.modules, code)")
    assert r.returncode == 0, r.stderr[-2000:]
    *help_text, last = r.stdout.strip().splitlines()
    assert last == "False 0"
    listed = {line.split()[0] for line in help_text if line.startswith("    ") and line.split()}
    assert set(SUBCOMMANDS) <= listed, set(SUBCOMMANDS) - listed
    choices = build_parser()._subparsers._group_actions[0].choices
    assert set(choices) == set(SUBCOMMANDS)  # a new subcommand joins SUBCOMMANDS


def test_the_readme_table_names_every_subcommand():
    readme = (REPO / "README.md").read_text()
    assert [c for c in SUBCOMMANDS if f"| `unihub {c}" not in readme] == []


def test_python_m_unihub_is_the_command():
    r = subprocess.run([sys.executable, "-m", "unihub", "--help"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "usage: unihub" in r.stdout


@pytest.mark.parametrize("argv", [[c, "--help"] for c in SUBCOMMANDS] + [["lammps", "build", "--help"],
                                  ["lammps", "commands", "--help"]])
def test_every_subcommand_has_help(argv, capsys):
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(f"usage: unihub {' '.join(argv[:-1])}")


def test_a_usage_error_is_one_line_and_status_2(capsys):
    assert main(["finetune", "base", "data", "-o", "out", "--lr-factors", "readout"]) == 2
    err = capsys.readouterr().err
    assert err == ("unihub finetune: error: argument --lr-factors: expected STAGE=FACTOR, got 'readout' "
                   "(see 'unihub finetune --help')\n")


def test_pack_packs_the_named_datasets_or_every_readable_card_of_the_role(monkeypatch, tmp_path, capsys):
    from unihub.foundation.data import list_cards, load_card

    calls = []
    monkeypatch.setattr("unihub.foundation.data.pack.pack_mix", lambda names, out, data_dir, force: calls.append(
        (names, out, data_dir, force)) or out)
    assert main(["pack", str(tmp_path / "a"), "--datasets", "mlearn", "diatomics", "--force"]) == 0
    assert main(["pack", str(tmp_path / "b"), "--role", "bench", "--data-dir", str(tmp_path)]) == 0
    bench = [n for n in list_cards("bench") if load_card(n).reader]
    assert bench and calls == [(["mlearn", "diatomics"], tmp_path / "a", None, True),
                               (bench, tmp_path / "b", str(tmp_path), False)]
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "a"), str(tmp_path / "b")]
    monkeypatch.undo()
    assert main(["pack", str(tmp_path / "c"), "--datasets", "no-such-card"]) == 2  # one line, not a traceback
    assert "unihub pack: error:" in capsys.readouterr().err


def test_the_packages_hold_no_command_line():
    """Parsers and handlers live in unihub/cli/: no library module imports argparse."""
    found = []
    for stage in ("foundation", "finetune", "zoo", "eval"):
        for f in sorted((REPO / stage).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text(), filename=str(f))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) else [])
                if "argparse" in names:
                    found.append(f"{f.relative_to(REPO)}:{node.lineno}")
    assert not found, found
