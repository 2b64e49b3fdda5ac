#!/usr/bin/env bash
# Every GPU-only path and bench/README.md's measurements in one go; rows appended to bench/RESULTS.md.
#   bench/gpu_check.sh                                  # one CUDA GPU, 1.3b shapes, under 8 minutes
#   bench/gpu_check.sh --device cpu --shape tiny        # dry mode: the same code on CPU in seconds
#   options: --results PATH (default bench/RESULTS.md), --budget-s SECONDS (default 450)
# Exit status: 0 when every check passes, 1 when one fails, 2 on bad usage.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" "$here/gpu_check.py" "$@"
