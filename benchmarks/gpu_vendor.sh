#!/usr/bin/env bash
# Copy the test dependencies a bare GPU image may lack from this machine's Python into
# build/gpu-vendor/<dist>-pkg/, for a GPU session to carry (64 MiB in all with the data):
#
#   bash benchmarks/gpu_vendor.sh                 # hypothesis + sortedcontainers (+ exceptiongroup on Python < 3.11), pure Python
#   bash benchmarks/gpu_vendor.sh --with-pillow   # also Pillow: compiled, so only for a GPU machine with this Python version
#
# benchmarks/gpu_check.sh adds a folder to PYTHONPATH only when the image cannot import that
# package itself, so an installed copy always wins. Each folder keeps the .dist-info, so
# pytest finds Hypothesis's plugin through its entry point.
set -euo pipefail
dest=build/gpu-vendor
dists=(hypothesis sortedcontainers exceptiongroup)
for arg in "$@"; do
  case "$arg" in
    --with-pillow) dists+=(pillow) ;;
    *) echo "usage: bash benchmarks/gpu_vendor.sh [--with-pillow]" >&2; exit 2 ;;
  esac
done
python - "$dest" "${dists[@]}" <<'EOF'
import importlib.metadata as metadata
import shutil
import sys
from pathlib import Path

dest, names = Path(sys.argv[1]), sys.argv[2:]
print(f"Python {sys.version.split()[0]} on {sys.platform}")
for name in names:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        print(f"  {name}: not installed here, skipped")
        continue
    # one folder per import name, named as gpu_check.sh looks for it
    top = (dist.read_text("top_level.txt") or "").split() or [name]
    folder = dest / f"{'PIL' if name == 'pillow' else top[0]}-pkg"
    shutil.rmtree(folder, ignore_errors=True)
    size = 0
    for file in dist.files or []:
        if "__pycache__" in file.parts or str(file).startswith(".."):
            continue
        source = Path(file.locate())
        if source.is_file():
            target = folder / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            size += source.stat().st_size
    print(f"  {name} {dist.version}: {size / 2**20:.1f} MiB in {folder}")
EOF
du -sh "$dest"
