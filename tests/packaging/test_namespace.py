"""The distribution installs one import package, ``unihub``, and nothing else at the top level."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = ("foundation", "finetune", "zoo", "eval", "data_cards")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(REPO)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr[-500:]}")
    (whl,) = out.glob("unihub-*.whl")
    return whl


def test_wheel_holds_only_unihub(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"unihub"}
    for stage in STAGES:  # each stage folder lands inside the namespace, with its package data
        assert f"unihub/{stage}/__init__.py" in names
    assert any(n.startswith("unihub/zoo/models/") and n.endswith(".safetensors") for n in names)
    assert "unihub/data_cards/mlearn.md" in names
    assert "unihub/finetune/mtp/kernel/mtp_core.hpp" in names  # compiled at first use
    assert "unihub/zoo/registry.json" in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "unihub = unihub.cli:main" in entry


def test_installed_wheel_imports_unihub_and_no_stage_name(wheel, tmp_path):
    """Unpacked alone on sys.path (no site .pth files, no source checkout): ``unihub`` imports, the old names do not."""
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    deps = sysconfig.get_paths()["purelib"]  # torch, ase, ... without the editable install's finder
    code = (
        "import sys, importlib\n"
        f"sys.path[:0] = [{str(target)!r}]; sys.path.append({deps!r})\n"
        "import unihub\n"
        "from unihub import load_model, list_models, ood_report\n"
        "from unihub.finetune import finetune, distill\n"
        "assert callable(finetune) and callable(distill)\n"
        "assert unihub.__file__.startswith(sys.path[0]), unihub.__file__\n"
        "assert [m['name'] for m in list_models()]\n"
        f"for name in {STAGES!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(f'{name} is importable at the top level')\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
