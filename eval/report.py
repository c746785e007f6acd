"""``ood_report``: run the OOD suites on every model and write one report (HTML + Markdown + JSON + raw CSV).

A model that fails on a structure is a recorded failure; a suite that cannot run (a missing optional package,
missing data) is a recorded suite error; a peer that is not installed is skipped with a message. None of
them stops the report.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unihub.eval.models import resolve_models
from unihub.eval.suites import ORDER, SIZE_MODES, Context, SuiteResult, suite_module
from unihub.foundation.errors import InputError
from unihub.foundation.files import atomic_write


def ood_report(models: Iterable, suites: str | Sequence[str] = "all", out: str | Path = "report/",
               size: str = "default", threads: int | None = None, seed: int = 0, progress: bool = True,
               options: dict | None = None) -> dict:
    """Judge ``models`` on ``suites`` and write ``out/report.{html,md,json}``, ``out/raw/*.csv`` and ``out/figures``.

    ``models``: hub model names or folders (anything ``unihub.zoo.load_model`` takes), loaded hub models
    (universal, fine-tuned, MTP students) or peer names (``chgnet``, ``sevennet-0``). ``suites``: "all" or
    names from :data:`unihub.eval.suites.ORDER`. ``size``: 'quick', 'default' (fixed subsets, see each suite's
    ``SIZES``) or 'full'. ``threads`` sets torch's intra-op threads for every model alike.
    ``options``: per-suite overrides, e.g. ``{"heldout": {"datasets": ["mad_au_alloys"]}}``.
    Returns the report as a dict (what ``report.json`` holds).
    """
    models = list(models)
    if not models:
        raise InputError("ood_report needs at least one model: registry names, model folders, .mtp files, loaded "
                         "models or peer names (chgnet, sevennet-0)")
    if size not in SIZE_MODES:
        raise ValueError(f"size must be one of {SIZE_MODES}, got {size!r}")
    names = list(ORDER) if suites == "all" else ([suites] if isinstance(suites, str) else list(suites))
    for n in names:  # validated before any model is loaded
        if n not in ORDER:
            raise ValueError(f"unknown suite {n!r}; suites: {', '.join(ORDER)}")
    # in ORDER, whatever order they were named in: OOD rows lead the summary, and cost runs after heldout
    names = [n for n in ORDER if n in names]
    wbm_file = (options or {}).get("wbm", {}).get("summary")
    # a bad summary file is refused here, before any model is loaded or any suite has run
    wbm_summary = suite_module("wbm").read_summary(wbm_file) if wbm_file and "wbm" in names else None
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    evals, skipped = resolve_models(models)
    for msg in skipped:
        print(f"[eval] {msg}", flush=True)
    out = Path(out)
    ctx = Context(evals, size=size, out=out, seed=seed, progress=progress,
                  cache={"options": options or {}, "wbm_summary": wbm_summary})
    results: list[SuiteResult] = []
    errors: dict[str, str] = {}
    loads = []
    for n in names:
        t = time.perf_counter()
        loads.append(os.getloadavg()[0])
        ctx.log(f"suite {n} ({size})")
        try:
            r = suite_module(n).run(ctx)
        except Exception as exc:  # noqa: BLE001 - one suite that cannot run must not cost the others
            errors[n] = f"{type(exc).__name__}: {exc}"[:500]
            print(f"[eval] suite {n} could not run: {errors[n]}", flush=True)
            continue
        r.wall_seconds = time.perf_counter() - t
        results.append(r)
        ctx.log(f"suite {n}: {r.wall_seconds:.1f} s")
    ctx.cache["load"] = max(loads + [os.getloadavg()[0]])
    report = _assemble(ctx, results, errors, skipped, time.perf_counter() - t0)
    write_report(report, results, out)
    return report


def _versions() -> dict:
    v = {"python": platform.python_version()}
    for pkg in ("torch", "ase", "numpy", "phonopy", "chgnet", "sevenn", "unihub"):
        try:
            v[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        v["unihub_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                            cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return v


def _clean(x: Any) -> Any:
    """JSON-safe values: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    return x


def _assemble(ctx: Context, results: list[SuiteResult], errors: dict, skipped: list[str], wall: float) -> dict:
    return _clean({
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "size": ctx.size, "seed": ctx.seed, "wall_seconds": wall,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    # the highest 1-min load seen at a suite's start: other work slows every timing shown
                    "load_1min_max": ctx.cache.get("load")},
        "versions": _versions(),
        "models": [m.describe() for m in ctx.models],
        "skipped_models": skipped,
        "suite_errors": errors,
        "suites": {r.name: {
            "title": r.title, "datasets": r.datasets, "size": r.size, "wall_seconds": r.wall_seconds,
            "seconds_per_model": r.seconds, "summary": r.summary, "failures": r.failures, "skipped": r.skipped,
            "notes": r.notes, "headlines": [h.__dict__ for h in r.headlines],
            "in_distribution": {h.key: [m.name for m in ctx.models if m.in_distribution(
                h.datasets or [d["name"] for d in r.datasets])] for h in r.headlines},
            "figures": [t for t, _ in r.figures], "raw": f"raw/{r.name}.csv"} for r in results},
    })


SPREAD_BELOW = 30  # items: below this the summary shows the spread next to the value


@dataclass
class Row:
    """One summary row: the value, its item count and its spread per model."""

    suite: str
    label: str
    values: dict
    lower_is_better: bool
    in_distribution: set
    n: dict
    spread: dict


def summary_rows(report: dict) -> list[Row]:
    """The summary table's rows, one per suite headline with a value for at least one model."""
    rows = []
    models = [x["name"] for x in report["models"]]
    for name, s in report["suites"].items():
        for h in s["headlines"]:
            key = h["key"]
            per = {m: s["summary"].get(m, {}) for m in models}
            vals = {m: per[m].get(key) for m in models}
            if any(v is not None for v in vals.values()):
                n = {m: per[m].get(f"{key}_n", per[m].get(h.get("n_key", "n"))) for m in models}
                rows.append(Row(name, h["label"], vals, h["lower_is_better"],
                                set(s.get("in_distribution", {}).get(key, [])), n,
                                {m: per[m].get(f"{key}_spread") for m in models}))
    return rows


def _cell(row: Row, m: str) -> tuple[str, str]:
    """(value text, annotation text) of one summary cell: '4.4 ± 2.1' and 'n=2', or '57' and 'n=66'."""
    v, n, sp = row.values[m], row.n.get(m), row.spread.get(m)
    text = _fmt(v)
    if v is not None and isinstance(n, int) and n < SPREAD_BELOW and isinstance(sp, float) and math.isfinite(sp):
        text += f" ± {_fmt(sp)}"
    notes = [f"n={n}"] if isinstance(n, int) and v is not None else []
    return text, " ".join(notes + (["(ID)"] if m in row.in_distribution else []))


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _best(vals: dict, lower: bool, exclude: set = frozenset()) -> str | None:
    """The best model among those out of distribution for the row (None with fewer than two to compare)."""
    ok = {k: v for k, v in vals.items() if isinstance(v, (int, float)) and k not in exclude}
    if len(ok) < 2:
        return None
    return (min if lower else max)(ok, key=ok.get)


def _table_keys(summary: dict) -> list[str]:
    """A suite table's columns: its scalar values, less the counts and spreads the summary shows (in report.json)."""
    return sorted({k for v in summary.values() for k, x in v.items()
                   if not isinstance(x, dict) and not k.endswith(("_n", "_spread"))})


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def write_report(report: dict, results: list[SuiteResult], out: Path) -> None:
    """Write report.json, report.md (figures as files), report.html (figures embedded) and raw/*.csv."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "raw").mkdir(exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    figures: dict[str, list[tuple[str, str, bytes]]] = {}
    for r in results:
        _write_csv(out / "raw" / f"{r.name}.csv", r.records)
        figures[r.name] = []
        for title, png in r.figures:
            rel = f"figures/{r.name}-{_slug(title)}.png"
            (out / rel).write_bytes(png)
            figures[r.name].append((title, rel, png))
    text = json.dumps(report, indent=1, ensure_ascii=False)
    atomic_write(out / "report.json", lambda p: Path(p).write_text(text))
    md = render_markdown(report, figures)
    atomic_write(out / "report.md", lambda p: Path(p).write_text(md))
    page = render_html(report, figures)
    atomic_write(out / "report.html", lambda p: Path(p).write_text(page))


def _write_csv(path: Path, records: list[dict]) -> None:
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys or ["model"])
        w.writeheader()
        for r in records:
            w.writerow({k: _fmt_csv(v) for k, v in r.items()})


def _fmt_csv(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def _header_lines(report: dict) -> list[str]:
    models = "; ".join(f"{m['name']} ({m['kind']}, rev {m['revision']})" for m in report["models"])
    v = report["versions"]
    return [f"Created {report['created']} · size **{report['size']}** · total wall time "
            f"{report['wall_seconds']:.0f} s · {report['machine']['cpus']} CPUs, "
            f"{report['machine']['torch_threads']} torch threads, 1-min load up to "
            f"{report['machine'].get('load_1min_max') or 0:.1f}",
            f"Models: {models}",
            "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val)]


def render_markdown(report: dict, figures: dict) -> str:
    models = [m["name"] for m in report["models"]]
    lines = ["# OOD benchmark report", "", *(f"{x}  " for x in _header_lines(report)), ""]
    for msg in report["skipped_models"]:
        lines.append(f"> {msg}")
    for name, err in report["suite_errors"].items():
        lines.append(f"> suite **{name}** could not run: {err}")
    lines += ["", "## Summary", "", "| suite | metric | " + " | ".join(models) + " |",
              "|---|---|" + "---:|" * len(models)]
    for row in summary_rows(report):
        best = _best(row.values, row.lower_is_better, row.in_distribution)
        cells = []
        for m in models:
            text, note = _cell(row, m)
            cells.append((f"**{text}**" if m == best else text) + (f" {note}" if note else ""))
        lines.append(f"| {row.suite} | {row.label} | " + " | ".join(cells) + " |")
    lines += ["", FOOTNOTE + " Wall time per suite (s):", "",
              "| suite | wall s | " + " | ".join(models) + " | failures |", "|---|---:|" + "---:|" * (len(models) + 1)]
    for name, s in report["suites"].items():
        per = [_fmt(s["seconds_per_model"].get(m)) for m in models]
        fails = ", ".join(f"{k}: {v}" for k, v in s["failures"].items()) or "0"
        lines.append(f"| {name} | {s['wall_seconds']:.0f} | " + " | ".join(per) + f" | {fails} |")
    for name, s in report["suites"].items():
        lines += ["", f"## {s['title']}", ""]
        lines.append("Data: " + (", ".join(f"`{d['name']}` (card {d['card_sha256']})" for d in s["datasets"])
                                 or "built structures") + f"; {s['size']} items. Raw results: `{s['raw']}`.")
        lines += ["", *s["notes"]]
        for m, why in s["skipped"].items():
            lines.append(f"- {m}: skipped ({why})")
        keys = _table_keys(s["summary"])
        if keys:
            lines += ["", "| model | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
            for m, v in s["summary"].items():
                lines.append(f"| {m} | " + " | ".join(_fmt(v.get(k)) for k in keys) + " |")
        for title, rel, _ in figures.get(name, []):
            lines += ["", f"![{title}]({rel})"]
    return "\n".join(lines) + "\n"


FOOTNOTE = ("n: items behind the value; where n < 30, ± is the standard deviation of the per-item errors. "
            "(ID): in-distribution, the model trained on this data. Bold: best in the row among the models for "
            "which the data is out-of-distribution.")

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
.scroll{max-width:100%;overflow-x:auto}img{max-width:100%;height:auto}.cnt{color:#777;font-size:.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px}
td.n{text-align:right}th{background:#f3f3f3}.best{font-weight:bold;background:#e8f5e9}.warn{color:#a33}
.meta{color:#555;font-size:.9em}figure{display:inline-block;margin:.5em}figcaption{font-size:.8em;color:#555}"""


def render_html(report: dict, figures: dict) -> str:
    e = html.escape
    models = [m["name"] for m in report["models"]]
    md_bold = re.compile(r"\*\*(.+?)\*\*")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>OOD report</title><style>{_CSS}</style>"
             "</head><body><h1>OOD benchmark report</h1>"]
    parts += ["<p class='meta'>" + md_bold.sub(r"<b>\1</b>", e(x)) + "</p>" for x in _header_lines(report)]
    for msg in report["skipped_models"]:
        parts.append(f"<p class='warn'>{e(msg)}</p>")
    for name, err in report["suite_errors"].items():
        parts.append(f"<p class='warn'>suite <b>{e(name)}</b> could not run: {e(err)}</p>")
    parts.append("<h2>Summary</h2><div class='scroll'><table><tr><th>suite</th><th>metric</th>"
                 + "".join(f"<th>{e(m)}</th>" for m in models) + "</tr>")
    for row in summary_rows(report):
        best = _best(row.values, row.lower_is_better, row.in_distribution)
        cells = []
        for m in models:
            text, note = _cell(row, m)
            cells.append(f"<td class='n{' best' if m == best else ''}'>{e(text)}"
                         + (f"<span class='cnt'> {e(note)}</span>" if note else "") + "</td>")
        parts.append(f"<tr><td>{e(row.suite)}</td><td>{e(row.label)}</td>" + "".join(cells) + "</tr>")
    parts.append(f"</table></div><p class='meta'>{e(FOOTNOTE)}</p><h3>Wall time per suite (s)</h3>"
                 "<div class='scroll'><table><tr><th>suite</th><th>wall</th>"
                 + "".join(f"<th>{e(m)}</th>" for m in models) + "<th>failures</th></tr>")
    for name, s in report["suites"].items():
        fails = ", ".join(f"{k}: {v}" for k, v in s["failures"].items()) or "0"
        parts.append(f"<tr><td>{e(name)}</td><td class='n'>{s['wall_seconds']:.0f}</td>" + "".join(
            f"<td class='n'>{_fmt(s['seconds_per_model'].get(m))}</td>" for m in models) + f"<td>{e(fails)}</td></tr>")
    parts.append("</table></div>")
    for name, s in report["suites"].items():
        data = ", ".join(f"<code>{e(d['name'])}</code> (card {e(d['card_sha256'])})" for d in s["datasets"])
        parts.append(f"<h2>{e(s['title'])}</h2><p class='meta'>Data: {data or 'built structures'}; "
                     f"{s['size']} items; raw results: <code>{e(s['raw'])}</code></p>")
        parts += [f"<p>{e(n)}</p>" for n in s["notes"]]
        parts += [f"<p class='warn'>{e(m)}: skipped ({e(w)})</p>" for m, w in s["skipped"].items()]
        keys = _table_keys(s["summary"])
        if keys:
            parts.append("<div class='scroll'><table><tr><th>model</th>" + "".join(f"<th>{e(k)}</th>" for k in keys)
                         + "</tr>")
            for m, v in s["summary"].items():
                parts.append(f"<tr><td>{e(m)}</td>" + "".join(f"<td class='n'>{_fmt(v.get(k))}</td>" for k in keys)
                             + "</tr>")
            parts.append("</table></div>")
        for title, _, png in figures.get(name, []):
            b64 = base64.b64encode(png).decode()
            parts.append(f"<figure><img alt='{e(title)}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{e(title)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
