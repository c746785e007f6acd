"""Library modules import at module top; an import inside a function says why it waits.

Every ``import`` / ``from ... import`` inside a function body (at any depth: under ``if``, ``try``,
``with``, nested functions) of the library folders is read with ``ast``. It passes when

- it imports one of the heavy or optional packages in ``DEFERRED_PACKAGES`` (peers, LAMMPS, ...), or
- its function carries a comment on, or on the line just above, one of its deferred imports: one comment
  per function is enough (``# torch-free until called: the CLI parser imports this module``).

Anything else should move to the top of its module; a failure lists each offending ``file:line``.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBRARY = ("foundation", "finetune", "zoo", "eval", "unihub")
# scripts shipped beside the library, not part of the import package
NOT_LIBRARY = ("examples",)
# optional or slow to import, and each needed by a few functions only: deferred without a comment
DEFERRED_PACKAGES = frozenset({"chgnet", "sevenn", "e3nn", "lammps", "phonopy", "pyxtal", "matbench_discovery"})
# files whose deferred imports still have to move to the top or gain a comment; an entry that no longer
# offends fails the test, so the list only shrinks
KNOWN: frozenset[str] = frozenset()  # files still breaking the rule, each to be fixed (the list only shrinks)


def _comment_lines(source: str) -> set[int]:
    """Line numbers that carry a ``#`` comment (not a ``#`` inside a string)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT}


def _top_package(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    return {"." * node.level + (node.module or "").split(".")[0]}


def unexplained_deferred_imports(source: str, filename: str = "<source>") -> list[str]:
    """``filename:line`` of each function-level import that is neither of a ``DEFERRED_PACKAGES`` package nor
    in a function with a comment on or just above one of its deferred import lines."""
    tree = ast.parse(source, filename=filename)
    comments = _comment_lines(source)
    by_function: dict[ast.AST, list[ast.Import | ast.ImportFrom]] = {}

    def visit(node: ast.AST, function: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, child)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                if function is not None:
                    by_function.setdefault(function, []).append(child)
            else:
                visit(child, function)

    visit(tree, None)
    bad = []
    for imports in by_function.values():
        explained = any(comments & set(range(imp.lineno - 1, imp.end_lineno + 1)) for imp in imports)
        for imp in imports:
            if not explained and not _top_package(imp) <= DEFERRED_PACKAGES:
                bad.append(f"{filename}:{imp.lineno}")
    return bad


def _library_files() -> list[Path]:
    files = []
    for folder in LIBRARY:
        files += [f for f in sorted((REPO / folder).rglob("*.py"))
                  if not set(f.relative_to(REPO).parts) & set(NOT_LIBRARY)]
    return files


def test_function_level_imports_are_heavy_or_explained():
    files = _library_files()
    assert len(files) > 50, "the library folders were not found"
    hits = [hit for f in files for hit in unexplained_deferred_imports(f.read_text(), str(f.relative_to(REPO)))]
    bad = [hit for hit in hits if hit.rsplit(":", 1)[0] not in KNOWN]
    cleared = sorted(KNOWN - {hit.rsplit(":", 1)[0] for hit in hits})
    assert not cleared, f"no longer offending: remove {cleared} from KNOWN"
    assert not bad, ("imports inside functions with no comment saying why they wait (move them to the top of "
                     "the module, or add a comment on or just above the import):\n" + "\n".join(bad))


def test_the_rule_catches_an_unexplained_import():
    source = '''
import json


def silent():
    from pathlib import Path
    return Path


def explained():
    # torch-free until called: the CLI parser imports this module
    import numpy
    from ase import io
    return numpy, io


def heavy():
    from chgnet.model import CHGNet
    return CHGNet


def nested():
    def inner():
        if True:
            import csv
        return csv
    return inner


def heavy_and_other():
    import lammps
    import tempfile
    return lammps, tempfile


def string_is_no_comment():
    x = "# not a comment"
    import gzip
    return x, gzip
'''
    assert unexplained_deferred_imports(source, "m.py") == ["m.py:6", "m.py:25", "m.py:32", "m.py:38"]
