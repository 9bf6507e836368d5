#!/usr/bin/env bash
# Build the project's environment in .venv/ (idempotent).
#
#   bash tools/install.sh            # or: make install
#
# Steps, each skipped when already satisfied:
#   1. python -m venv .venv
#   2. build tools (setuptools<81 for mmcv's pkg_resources import)
#   3. torch 2.13.0 + torchvision 0.28.0 from the package registry, ignoring local pip config
#      (a local CPU-only torch wheel sorts above the registry's build and breaks torchvision)
#   4. mmcv 2.1.0 compiled with ops, wheel cached under a key of (torch version, python tag, ops flavour)
#   5. the rest of the OpenMMLab set, rasterio, pytest, the docs tools (mkdocs), onnx / onnxruntime
#      (requirements/export.txt: the export tests need them) and mmskysense in editable mode
#
# Environment:
#   PYTHON             interpreter used to create the venv (default: python3)
#   MMSKYSENSE_CACHE   where compiled mmcv wheels are kept (default: ~/.cache/mmskysense)
#   MAX_JOBS           parallel compile jobs for mmcv (default: number of cores)
#   FORCE_CUDA=1       compile mmcv's CUDA ops (needs nvcc matching torch's CUDA; see README)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
CACHE="${MMSKYSENSE_CACHE:-$HOME/.cache/mmskysense}"
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
MMCV_VERSION=2.1.0
STAMP="$VENV/.mmskysense-install-stamp"

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Everything that decides what gets installed; a change to any of these re-runs the install.
stamp_value() {
  cat requirements/*.txt setup.py tools/install.sh | sha256sum | cut -d' ' -f1
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]] \
   && "$PY" -c "import torch, torchvision, mmcv.ops, mmdet, mmseg, mmpretrain, rasterio, onnxruntime, onnxscript, mmskysense" 2>/dev/null; then
  log "environment in .venv is up to date"
  exit 0
fi

# 1. virtual environment
if [[ ! -x "$PY" ]]; then
  log "creating .venv with ${PYTHON:-python3}"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')

# 2. build tools
"${PIP[@]}" install -q -r requirements/build.txt

# 3. torch and torchvision from the registry (not the machine's local CPU wheel)
have_torch() {
  "$PY" - <<EOF 2>/dev/null
import torch, torchvision
assert torch.__version__.split('+')[0] == '$TORCH_VERSION', torch.__version__
assert '+cpu' not in torch.__version__, 'CPU-only torch breaks the registry torchvision'
assert torchvision.__version__.split('+')[0] == '$TORCHVISION_VERSION'
import torchvision.ops
torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
EOF
}
if ! have_torch; then
  log "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION (about 5 GB)"
  # --isolated: ignore PIP_FIND_LINKS and pip.conf, which point at a folder holding torch+cpu
  "${PIP[@]}" install --isolated -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  have_torch || { echo "torch/torchvision were installed but do not work together" >&2; exit 1; }
fi
TORCH_FULL=$("$PY" -c 'import torch; print(torch.__version__)')

# 4. mmcv with compiled ops, cached per (torch, python, ops flavour)
FLAVOUR=cpu
[[ "${FORCE_CUDA:-0}" == "1" ]] && FLAVOUR="cuda${TORCH_CUDA_ARCH_LIST:+-$(echo "$TORCH_CUDA_ARCH_LIST" | tr ' ;.' '___')}"
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION/torch-$TORCH_FULL-$PYTAG-$FLAVOUR"
have_mmcv() {
  "$PY" - <<EOF 2>/dev/null
import mmcv, torch
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
from mmcv.ops import nms, RoIAlign  # fails when the compiled ops do not load with this torch
nms(torch.rand(3, 4) * 10, torch.rand(3), 0.5)
EOF
}
if ! have_mmcv; then
  # runtime deps of mmcv (they are not in the wheel build, which runs with --no-deps)
  "${PIP[@]}" install -q "mmengine==0.10.7" addict "numpy" packaging Pillow pyyaml yapf opencv-python-headless
  whl=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [[ -z "$whl" ]]; then
    log "compiling mmcv $MMCV_VERSION with ops against torch $TORCH_FULL (5-8 minutes on 2 cores)"
    mkdir -p "$WHEEL_DIR"
    tmp=$(mktemp -d)
    # --no-build-isolation: mmcv's setup.py must see torch, or it silently skips the ops.
    # --no-cache-dir: pip's own wheel cache is not keyed on torch, so it could hand back a stale build.
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps --no-cache-dir "mmcv==$MMCV_VERSION" -w "$tmp"
    mv "$tmp"/mmcv-*.whl "$WHEEL_DIR"/   # moved only once complete: an interrupted build leaves no wheel
    rm -rf "$tmp"
    whl=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -1)
  else
    log "reusing compiled $whl"
  fi
  "${PIP[@]}" install -q --force-reinstall --no-deps "$whl"
  if ! have_mmcv; then
    echo "mmcv from $whl does not load with torch $TORCH_FULL; removing it from the cache" >&2
    rm -f "$whl"
    exit 1
  fi
fi

# 5. everything else; torch/mmcv are already satisfied, so pip keeps them
log "installing the OpenMMLab set, rasterio, test, docs and export tools and mmskysense (editable)"
"${PIP[@]}" install -q -r requirements/runtime.txt -r requirements/mminstall.txt -r requirements/tests.txt \
  -r requirements/docs.txt -r requirements/export.txt  # the tests export models and run them with onnxruntime
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
have_torch || { echo "a later step replaced torch/torchvision with an incompatible build" >&2; exit 1; }
have_mmcv || { echo "a later step replaced mmcv" >&2; exit 1; }

"$PY" -c "import mmskysense, mmdet, mmseg, mmpretrain, rasterio; print('mmskysense', mmskysense.__version__)"
stamp_value > "$STAMP"
log "done"
