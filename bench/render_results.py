"""Render bench/RESULTS.md from the benchmark records in bench/results/*.json (newest first).

    python bench/render_results.py [RESULTS_DIR [OUT.md]]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def flatten(d, prefix: str = "") -> dict:
    """{'a/b/c': value} for the leaves of a nested dict."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def render(records: list[dict]) -> str:
    lines = ["# Benchmark results", "", "Rendered by `python bench/render_results.py` from `bench/results/*.json`; "
             "each record names the command, commit, machine and threads that produced it.", ""]
    for rec in sorted(records, key=lambda r: r["date"], reverse=True):
        lines += [f"## {rec['benchmark']} ({rec['date']}, commit {rec['git_sha']})", "",
                  f"`{rec['command']}` on {rec['machine']}, {rec['threads']} threads, load {rec['load_1min']:.2f}, "
                  f"{rec['wall_seconds']:.0f} s.", "", "| figure | value |", "|---|---|"]
        for key, value in flatten(rec["figures"]).items():
            if isinstance(value, float):
                value = f"{value:.3g}"
            elif value is None:
                value = "–"
            lines.append(f"| {key} | {value} |")
        lines.append("")
    return "\n".join(lines)


def read_records(results: Path) -> list[dict]:
    """The records in ``results`` (files without a ``benchmark`` key are other tools' outputs)."""
    records = [json.loads(p.read_text()) for p in sorted(Path(results).glob("*.json"))]
    return [r for r in records if isinstance(r, dict) and "benchmark" in r]


def main(argv: list[str] | None = None) -> Path:
    args = sys.argv[1:] if argv is None else argv
    results = Path(args[0]) if args else HERE / "results"
    out = Path(args[1]) if len(args) > 1 else HERE / "RESULTS.md"
    out.write_text(render(read_records(results)))
    print(out)
    return out


if __name__ == "__main__":
    main()
