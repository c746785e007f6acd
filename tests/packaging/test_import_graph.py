"""Imports follow the data flow: ``finetune`` and ``zoo`` sit side by side above ``foundation``, ``eval``
above the zoo, and none of them reaches across (``unihub.foundation.loading`` is how they meet).

Every ``import`` and ``from ... import`` of every library module is read with ``ast`` (deferred ones
inside functions too), resolved to an absolute ``unihub.*`` name, and checked against the forbidden
arrows; a failure lists each offending ``module:line``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = ("foundation", "finetune", "zoo", "eval", "data_cards")
# importer stage -> stages it must not import
FORBIDDEN = {
    "foundation": ("finetune", "zoo", "eval"),
    "finetune": ("zoo", "eval"),
    "zoo": ("finetune", "eval"),
    "eval": ("finetune",),
}
# arrows still in the tree, each with its way out; an entry that no longer offends fails the test
KNOWN: dict[str, str] = {}  # file -> what must move before it stops offending


def _modules(stage: str) -> list[tuple[Path, str]]:
    """(file, dotted module name) of every module of a stage folder."""
    out = []
    for f in sorted((REPO / stage).rglob("*.py")):
        parts = list(f.relative_to(REPO / stage).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out.append((f, ".".join(["unihub", stage, *parts]) + (".__init__" if is_pkg else "")))
    return out


def imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (``module`` resolves relative imports)."""
    package = module.rsplit(".", 1)[0]  # for ``a.b.__init__`` and ``a.b.c`` alike: ``a.b``
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # ``from unihub import zoo`` imports the stage itself
            names = [f"{name}.{a.name}" for a in node.names] if name == "unihub" else [name]
            out += [(node.lineno, n) for n in names]
    return out


def _stage_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] == "unihub" and len(parts) > 1 and parts[1] in STAGES:
        return parts[1]
    if parts[0] in STAGES:  # the folders' own names, were anything to import them so
        return parts[0]
    return None


def forbidden_imports(stage: str) -> list[str]:
    """``file:line -> module`` for each import from ``stage`` into a stage it must not import."""
    bad = []
    for path, module in _modules(stage):
        for line, name in imported_names(path, module):
            target = _stage_of(name)
            if target in FORBIDDEN.get(stage, ()):
                bad.append(f"{path.relative_to(REPO)}:{line} -> {name}")
    return bad


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_no_import_against_the_flow(stage):
    found = forbidden_imports(stage)
    bad = [b for b in found if b.split(":")[0] not in KNOWN]
    assert not bad, f"{stage} imports {', '.join(FORBIDDEN[stage])}:\n" + "\n".join(bad)
    stale = [k for k in KNOWN if k.startswith(f"{stage}/") and not any(b.startswith(f"{k}:") for b in found)]
    assert not stale, f"no longer offending, drop from KNOWN: {stale}"


def test_the_check_sees_relative_and_deferred_imports(tmp_path):
    """The parser must catch what the test exists for (a relative import two levels up, inside a function)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    src = pkg / "m.py"
    src.write_text("def f():\n    from ...zoo.load import load_model\n    import unihub.eval\n")
    found = imported_names(src, "unihub.finetune.pkg.m")
    assert (2, "unihub.zoo.load") in found and (3, "unihub.eval") in found
    assert [_stage_of(n) for _, n in found] == ["zoo", "eval"]
