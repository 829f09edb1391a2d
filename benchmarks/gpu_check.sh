#!/usr/bin/env bash
# The GPU checks of issue #7 in one run, for a session that has an NVIDIA GPU for a few minutes.
#
#   PYTHONPATH=. bash benchmarks/gpu_check.sh        # from the repository root; results in $OUT
#
# Stages, each under `timeout`, all within GPU_CHECK_SECONDS (default 470 s, under 8 minutes):
#   env         Python, package versions, the card                                            <= 30 s
#   pytest      python -m pytest -m gpu tests/minicnn: every op and layer test on the GPU     <= 200 s
#   throughput  benchmarks/train_throughput.py --device gpu: minicnn/CuPy vs PyTorch/CUDA     <= 100 s
#   epoch       benchmarks/gpu_epoch.py: 50 steps GPU vs CPU, then one GPU epoch of UTKFace   the rest
# summary.txt gathers each stage's exit status, time and key lines; each stage's full log is <stage>.log.
#
# The machine needs numpy, cupy, numba, torch (a CUDA build) and pytest, not this project installed.
# What a bare image may lack and how to bring it (paths travel with the run tool's `carry`):
#   hypothesis  the op tests import it: bash benchmarks/gpu_vendor.sh here, carry build/gpu-vendor
#   Pillow      gpu_epoch.py imports facestack.data, whose readers need it: add --with-pillow there
#   the data    GPU_CHECK_CACHE_NPZ=file written by `python benchmarks/gpu_epoch.py --make-cache-npz FILE`
#               (default build/gpu-check/utkface-cache.npz when it exists), else $FACESTACK_DATA/utkface
#               (decoding the JPEGs needs Pillow).
set -u
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
export PYTHONPATH=${PYTHONPATH:-.}
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python}
command -v "$PY" > /dev/null || PY=python3
STARTED=$(date +%s)
TOTAL=${GPU_CHECK_SECONDS:-470}
VENDOR=${GPU_VENDOR:-build/gpu-vendor}
NPZ=${GPU_CHECK_CACHE_NPZ:-build/gpu-check/utkface-cache.npz}

note() { echo "$*" | tee -a "$SUMMARY"; }

# Add a carried copy of a package only where the image cannot import its own.
for module in hypothesis sortedcontainers exceptiongroup PIL; do
  if ! "$PY" -c "import $module" 2> /dev/null && [ -d "$VENDOR/$module-pkg" ]; then
    export PYTHONPATH="$PYTHONPATH:$VENDOR/$module-pkg"
    note "using the carried $module from $VENDOR/$module-pkg"
  fi
done

# stage NAME LIMIT_SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log, record the outcome.
stage() {
  local name=$1 limit=$2
  shift 2
  local left=$((TOTAL - ($(date +%s) - STARTED)))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 20 ]; then
    note "== $name: skipped, only ${left}s of the ${TOTAL}s budget left"
    return 1
  fi
  local begun rc
  begun=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local status="exit $rc"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status="TIMED OUT (exit $rc)"
  note "== $name: $status after $(($(date +%s) - begun))s (limit ${limit}s); log $name.log"
  [ "$rc" -ne 0 ] && tail -n 8 "$OUT/$name.log" | sed 's/^/  | /' >> "$SUMMARY"
  return "$rc"
}

stage env 30 "$PY" - << 'EOF'
import importlib, platform, subprocess, sys
print(f"python {platform.python_version()} ({sys.executable})")
for name in ("numpy", "cupy", "numba", "torch", "pytest", "hypothesis", "PIL", "matplotlib", "scipy", "cv2"):
    try:
        module = importlib.import_module(name)
        print(f"{name:<11} {getattr(module, '__version__', '?')}")
    except Exception as error:
        print(f"{name:<11} MISSING ({type(error).__name__}: {error})")
try:
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print(f"card: {props['name'].decode()}, compute capability {props['major']}.{props['minor']}, "
          f"{props['multiProcessorCount']} SMs, {props['totalGlobalMem'] / 2**30:.0f} GiB, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")
    import torch
    print(f"torch sees CUDA: {torch.cuda.is_available()} ({torch.version.cuda})")
except Exception as error:
    print(f"GPU probe failed: {type(error).__name__}: {error}")
try:
    print(subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout.strip())
except (OSError, subprocess.SubprocessError) as error:
    print(f"nvidia-smi: {error}")
EOF
sed 's/^/  /' "$OUT/env.log" >> "$SUMMARY"

stage pytest 200 "$PY" -m pytest -m gpu -q -ra -p no:cacheprovider --continue-on-collection-errors \
  --durations=10 --junitxml="$OUT/pytest.xml" tests/minicnn
grep -E "^(FAILED|ERROR)|(passed|failed|error|skipped).* in [0-9.]+s" "$OUT/pytest.log" | tail -40 | sed 's/^/  /' >> "$SUMMARY"

if stage throughput 100 "$PY" benchmarks/train_throughput.py --device gpu; then
  grep -vE "^  (H1|H2|A1)" "$OUT/throughput.log" | tail -20 | sed 's/^/  /' >> "$SUMMARY"
fi

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gpu-epoch.XXXXXX")
DATA_ARGS=()
if [ -f "$NPZ" ]; then DATA_ARGS=(--cache-npz "$NPZ"); fi
stage epoch 600 "$PY" benchmarks/gpu_epoch.py --device gpu --out "$RUN_DIR/run" ${DATA_ARGS[@]+"${DATA_ARGS[@]}"}
grep -E "^data:|^comparison|s/step \(first|max relative|^full epoch|accuracy:|^\{" "$OUT/epoch.log" | sed 's/^/  /' >> "$SUMMARY"
mkdir -p "$OUT/epoch"
for file in comparison.csv log.csv steps.csv results.json; do
  [ -f "$RUN_DIR/run/$file" ] && cp "$RUN_DIR/run/$file" "$OUT/epoch/"
done

note "== total $(($(date +%s) - STARTED))s of ${TOTAL}s"
