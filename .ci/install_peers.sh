#!/usr/bin/env bash
# Install the peer models used by zoo/peers (CHGNet 0.3.0 weights, SevenNet-0) into a venv,
# without changing its torch or numpy: an unconstrained resolve could pull a CUDA torch (GBs).
#
#   bash .ci/install_peers.sh [VENV]      # VENV defaults to .venv; safe to run again
#
# The pins match the `peers` extra in pyproject.toml. chgnet==0.3.0 itself is yanked on PyPI
# (its wheel lacks the weights); chgnet 0.4.2 ships the same 0.3.0 checkpoint (same sha256).
# Everything comes from PyPI; the weights are inside the packages, so nothing is fetched at run time.
set -euo pipefail

VENV="${1:-.venv}"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "install_peers: no python at $PY; pass the virtualenv as the first argument" >&2
    exit 2
fi

PINS=(chgnet==0.4.2 sevenn==0.13.0 e3nn==0.6.0)

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
# Hold torch and numpy at what is installed now (e.g. torch 2.13.0+cpu).
"$PY" - >"$constraints" <<'EOF'
from importlib.metadata import PackageNotFoundError, version

for dist in ("torch", "numpy"):
    try:
        print(f"{dist}=={version(dist)}")
    except PackageNotFoundError:
        raise SystemExit(f"install_peers: {dist} is not installed in this venv; install unihub first")
EOF
before="$(cat "$constraints")"

"$PY" -m pip install --disable-pip-version-check -c "$constraints" "${PINS[@]}"
"$PY" -m pip check

"$PY" - "$before" <<'EOF'
import sys
from importlib.metadata import version

held = dict(line.split("==") for line in sys.argv[1].split())
now = {dist: version(dist) for dist in held}
if now != held:
    raise SystemExit(f"install_peers: versions changed: {held} -> {now}")
import chgnet  # noqa: F401
import sevenn  # noqa: F401

print("install_peers: ok;", ", ".join(f"{d} {version(d)}" for d in ("chgnet", "sevenn", "e3nn", *held)))
EOF
