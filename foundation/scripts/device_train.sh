#!/usr/bin/env bash
# Train on a borrowed GPU machine for a few minutes, from a copy of the working tree: nothing can be fetched
# there and the shared data folder is not copied, so everything the run needs is staged into .device/ first.
#
#   here:    bash foundation/scripts/device_train.sh prepare CONFIG.yaml
#            stages the config's pack, its init_from weights and the wheels the device image lacks (ase, vesin)
#            into .device/ (git-ignored; the pack plus about 6 MB), with a config pointing at them
#   GPU:     bash foundation/scripts/device_train.sh run [MAX_TIME]      (the tree copied with .device/; OUT set)
#            installs them, trains on one GPU until MAX_TIME (default 00:00:08:00, DD:HH:MM:SS) and writes
#            the exported model (model.safetensors, config.json), the last checkpoint and the metrics to $OUT;
#            `unihub release NAME --from FILES_AT` ships what came back, or a later config starts from it
#
# `run` works on a CPU too (ACCELERATOR=cpu), which tests the staging before a GPU is borrowed.
set -euo pipefail
STAGE=.device

prepare() {
    local config=$1
    rm -rf "$STAGE" && mkdir -p "$STAGE/cache/packs" "$STAGE/wheels"
    python - "$config" "$STAGE" <<'EOF'
import shutil, sys
from pathlib import Path

import yaml

from unihub.foundation.training.config import TrainConfig
from unihub.foundation.training.run import open_source

config, stage = Path(sys.argv[1]), Path(sys.argv[2])
cfg = TrainConfig.from_yaml(config)
pack = Path(open_source(cfg).path)  # packs the datasets here if the cache lacks them
shutil.copytree(pack, stage / "cache" / "packs" / pack.name)
raw = yaml.safe_load(config.read_text())
if cfg.init_from:
    shutil.copytree(cfg.init_from, stage / "init")
    raw["init_from"] = str(stage / "init")
raw["output"] = str(stage / "run")
raw["trainer"].update(accelerator="gpu", devices=1, strategy="auto", threads=None, progress=False)
(stage / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
print(f"staged {pack.name}" + (f" and {cfg.init_from}" if cfg.init_from else "") + f" for {config}")
EOF
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$STAGE/wheels" "ase==$(python -c 'import ase; print(ase.__version__)')" \
        "vesin==$(python -c 'from importlib.metadata import version; print(version("vesin"))')"
    du -sh "$STAGE"
}

run() {
    local max_time=${1:-00:00:08:00} out=${OUT:-$STAGE/out}
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/unihub-site "$STAGE"/wheels/*.whl
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/unihub-site .
    export PYTHONPATH=/tmp/unihub-site${PYTHONPATH:+:$PYTHONPATH} UNIHUB_CACHE=$STAGE/cache PYTHONUNBUFFERED=1
    local cfg=$STAGE/config.yaml
    if [ "${ACCELERATOR:-gpu}" = cpu ]; then
        sed -i 's/accelerator: gpu/accelerator: cpu/' "$cfg"
    fi
    nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || true
    python3 -m unihub.cli train "$cfg" --max-time "$max_time" 2>&1 | tee "$out/train.log"
    cp "$STAGE/run/model/model.safetensors" "$STAGE/run/model/config.json" "$out/"
    cp "$(ls -t "$STAGE"/run/checkpoints/*.ckpt | head -1)" "$out/last.ckpt"
    cp "$STAGE/run/logs/version_0/metrics.csv" "$out/"
}

cmd=${1:?usage: device_train.sh prepare CONFIG | run [MAX_TIME]}
shift
"$cmd" "$@"
