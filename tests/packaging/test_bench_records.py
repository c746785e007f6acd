"""The benchmark record: ``bench/record.py`` writes one JSON record per run, ``bench/render_results.py`` renders
them, every bench script writes one, and the scripts share code only through ``record`` (or the library).

The scripts are read with ``ast``, never run: a benchmark takes minutes to hours.
"""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
SHARED = {"record.py", "render_results.py"}  # the record's own code, not benchmarks
# scripts that do not write a record yet, each with why; an entry that writes one fails the test
NO_RECORD_YET: dict[str, str] = {}


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import record
        import render_results

        yield record, render_results
    finally:
        sys.path.remove(str(BENCH))


def scripts() -> list[Path]:
    return sorted(p for p in BENCH.glob("*.py") if p.name not in SHARED)


def calls_write_record(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == "write_record") or \
                    (isinstance(f, ast.Attribute) and f.attr == "write_record"):
                return True
    return False


def test_record_round_trip_and_render(tmp_path, bench_modules):
    record, render_results = bench_modules
    figures = {"force_mae_meV_A": np.float32(12.5), "per_size": {"64_atoms": np.float64(3.25), "ratio": np.nan},
               "atoms": np.int64(64), "phase": ("Si", "diamond", 5.43), "rows": np.arange(3)}
    path = record.write_record("toy_bench", figures, threads=1, wall_seconds=2.34, argv=["bench/toy.py", "--x", "1"],
                               results=tmp_path / "results")
    assert path.parent == tmp_path / "results" and path.name.startswith("toy_bench-")
    rec = json.loads(path.read_text())  # strict JSON: NaN was written as null
    assert {"benchmark", "git_sha", "command", "machine", "threads", "load_1min", "date", "wall_seconds",
            "figures"} <= set(rec)
    assert rec["benchmark"] == "toy_bench" and rec["command"] == "python bench/toy.py --x 1"
    assert rec["threads"] == 1 and rec["wall_seconds"] == 2.3 and rec["git_sha"]
    assert rec["figures"] == {"force_mae_meV_A": 12.5, "per_size": {"64_atoms": 3.25, "ratio": None}, "atoms": 64,
                              "phase": ["Si", "diamond", 5.43], "rows": [0, 1, 2]}
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
    (tmp_path / "results" / "other-tool.json").write_text("[1, 2]")  # not a record: skipped
    out = render_results.main([str(tmp_path / "results"), str(tmp_path / "RESULTS.md")])
    text = out.read_text()
    assert "## toy_bench (" in text and "`python bench/toy.py --x 1`" in text
    assert "| per_size/64_atoms | 3.25 |" in text and "| per_size/ratio | – |" in text
    assert "| force_mae_meV_A | 12.5 |" in text


def test_json_safe_leaves_nothing_json_rejects(bench_modules):
    record, _ = bench_modules
    value = record.json_safe({1: [math.inf, np.bool_(True)], "p": Path("a/b")})
    assert json.loads(json.dumps(value, allow_nan=False)) == {"1": [None, True], "p": "a/b"}


def test_every_bench_script_writes_a_record():
    missing, stale = [], []
    for p in scripts():
        writes = calls_write_record(ast.parse(p.read_text()))
        if not writes and p.name not in NO_RECORD_YET:
            missing.append(p.name)
        if writes and p.name in NO_RECORD_YET:
            stale.append(p.name)
    assert not missing, f"bench scripts that write no record (call record.write_record): {missing}"
    assert not stale, f"these write a record now: remove them from NO_RECORD_YET: {stale}"


def test_bench_scripts_share_code_only_through_record():
    names = {p.stem for p in BENCH.glob("*.py")} - {"record"}
    found, path_hacks = set(), []
    for p in scripts() + [BENCH / "render_results.py"]:
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in names:
                found.add((p.name, node.module))
            elif isinstance(node, ast.Import):
                found |= {(p.name, a.name) for a in node.names if a.name in names}
            elif isinstance(node, ast.Attribute) and node.attr == "path" and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                path_hacks.append(f"{p.name}:{node.lineno}")
    assert not path_hacks, f"bench scripts editing sys.path (share through bench/record.py instead): {path_hacks}"
    assert not found, f"bench scripts importing each other (share through bench/record.py or the library): " \
                      f"{sorted(found)}"


def test_configs_parse_and_misspelt_settings_are_refused(tmp_path, bench_modules):
    import yaml

    record, _ = bench_modules
    for p in sorted((BENCH / "configs").glob("*.yaml")):
        assert isinstance(yaml.safe_load(p.read_text()), dict), p.name
    bad = tmp_path / "bad.yaml"
    bad.write_text("cpu_secnds: 10\n")
    with pytest.raises(SystemExit, match="cpu_secnds"):
        record.load_config(bad, "arch_study")
    good = tmp_path / "good.yaml"
    good.write_text("cpu_seconds: 10\n")
    cfg = record.load_config(good, "arch_study")
    assert cfg["cpu_seconds"] == 10 and cfg["frames"] == 800


def test_readme_lists_every_benchmark():
    text = (BENCH / "README.md").read_text()
    unlisted = [p.name for p in scripts() if f"`{p.name}`" not in text]
    assert not unlisted, f"bench/README.md does not list: {unlisted}"
