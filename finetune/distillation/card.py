"""The student's card and folder: what it was distilled from, on what, and how close it came.

The card is the zoo's ``README.md`` (``unihub.foundation.card``): teacher, revision, elements, level and cutoff
as ``key:value`` tags (the Hub's own convention), errors as ``eval_results``, and Markdown tables.
The whole record (counts per source, errors, every active-learning round) is also written as
``distillation.json``, listed in ``checksums.json`` with the other files.
"""

from __future__ import annotations

import json
from pathlib import Path

from unihub.foundation.files import atomic_write
from unihub.foundation.served import StudentModel

RECORD = "distillation.json"
# the keys of unihub.foundation.metrics.array_errors the card shows, units in their names
METRICS = ("energy_mae_meV_atom_raw", "energy_mae_meV_atom_aligned", "force_mae_meV_A", "stress_mae_GPa")
# names on cards written before the shared keys, read back as the keys of the same definition; their
# stress_mae (six Voigt components) has no counterpart and keeps its name
LEGACY = {"energy_mae": "energy_mae_meV_atom_raw", "force_mae": "force_mae_meV_A"}


class DistilledStudent(StudentModel):
    """A ``StudentModel`` whose folder also holds its distillation record."""

    def __init__(self, mtp, name: str, record: dict) -> None:
        super().__init__(mtp, name=name, card=student_card(name, record))
        self.record = record

    def _write_files(self, directory: Path) -> list[str]:
        names = super()._write_files(directory)
        text = json.dumps(self.record, indent=1, default=float)
        atomic_write(directory / RECORD, lambda p: Path(p).write_text(text + "\n"))
        return [*names, RECORD]


def _table(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def student_card(name: str, rec: dict) -> dict:
    """``unihub.foundation.card.write_card`` metadata for a distillation record (see ``distill.distill``)."""
    tags = ["unihub", "mtp", "distilled", f"teacher:{rec['teacher']}", f"teacher-revision:{rec['teacher_revision']}",
            f"mtp-level:{rec['level']}", f"cutoff:{rec['cutoff']:g}", *(f"element:{e}" for e in rec["elements"])]
    evals = []
    for dataset, errs in rec.get("errors", {}).items():
        for metric in METRICS:
            if metric in errs:
                evals.append({"dataset": dataset, "metric": metric, "value": errs[metric]})
    counts = _table([[k, v] for k, v in sorted(rec["counts"].items())], ["source", "configurations"])
    errors = _table([[d, *(f"{e.get(m, float('nan')):.3g}" for m in METRICS)]
                     for d, e in rec.get("errors", {}).items()], ["student vs", *METRICS])
    rounds = rec.get("active", {}).get("rounds", [])
    al = _table([[r["round"], r["md_steps"], f"{r['max_grade']:.2f}", r["added"], r["train_size"]] for r in rounds],
                ["round", "MD steps", "max grade", "labelled", "train size"]) if rounds else "(none)"
    body = (f"Moment Tensor Potential (level {rec['level']}, cutoff {rec['cutoff']:g} Å, "
            f"r_min {rec['r_min']:g} Å) distilled from **{rec['teacher']}** (revision `{rec['teacher_revision']}`, "
            f"head `{rec.get('head')}`) for {', '.join(rec['elements'])}. The student saw teacher labels only.\n\n"
            f"## Training configurations by source\n\n{counts}\n\n## Errors\n\n{errors}\n\n"
            f"## Active learning ({rec.get('active', {}).get('reason', 'not run')})\n\n{al}\n\n{_core(rec)}"
            f"Distillation took {rec.get('seconds', 0):.0f} s. Full record: `{RECORD}`.\n")
    return {"title": name, "base_model": rec["teacher"], "license": "mit", "tags": tags, "eval_results": evals,
            "body": body}


def _core(rec: dict) -> str:
    """The card's section on the repulsive core (``unihub.finetune.mtp.repulsion``), empty for a student without one."""
    if not rec.get("core"):
        return ""
    rows = [[pair, f"{lo:.2f}", f"{hi:.2f}"] for pair, (lo, hi) in rec["core"].items()]
    return ("## Repulsive core\n\nZBL switched off between r_in and r_out, each pair's shortest distance in the "
            "teacher labels; below r_out the MTP is held flat (`student.core.table`, beside `x.mtp` as "
            "`x.core.table`; keep them together).\n\n" + _table(rows, ["pair", "r_in (Å)", "r_out (Å)"]) + "\n\n")


def card_fields(card: dict) -> dict:
    """Teacher, revision, elements, level, cutoff and errors read back from a loaded student's card."""
    out: dict = {"elements": []}
    for t in card.get("tags", []):
        key, _, val = str(t).partition(":")
        if key == "element":
            out["elements"].append(val)
        elif key in ("teacher", "teacher-revision"):
            out[key.replace("-", "_")] = val
        elif key == "mtp-level":
            out["level"] = int(val)
        elif key == "cutoff":
            out["cutoff"] = float(val)
    out["errors"] = {}
    for entry in card.get("model-index", []):
        for res in entry.get("results", []):
            errs = out["errors"].setdefault(res["dataset"]["name"], {})
            for m in res.get("metrics", []):
                name = m["name"].split(" ")[0]
                errs[LEGACY.get(name, name)] = m["value"]
    return out
