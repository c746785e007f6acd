"""Render bench/RESULTS.md from the benchmark records in bench/results/*.json (newest first).

    python bench/render_results.py
"""

from __future__ import annotations

import json
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
            lines.append(f"| {key} | {value} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    records = [json.loads(p.read_text()) for p in sorted((HERE / "results").glob("*.json"))]
    (HERE / "RESULTS.md").write_text(render(records))
    print(HERE / "RESULTS.md")


if __name__ == "__main__":
    main()
