#!/usr/bin/env bash
# GPU readiness of the training path, on one GPU:
#   1. the golden, fast-vs-reference equivalence, channels-last and torch.compile tests on the
#      device (MORSE_TEST_DEVICE=cuda, TF32 off);
#   2. a few training steps and inferences per variant (benchmarks/run.py): seconds, throughput,
#      fraction of the measured matmul peak, peak memory, in float32 and with bf16 autocast
#      (train.amp) + channels_last;
#   3. the same with torch.compile (train.compile: true) for the UNet 224 px setting, and in
#      float32 with the backbone in the channels-last layout (train.channels_last: true).
# Without a CUDA GPU it says so and exits 0. Results: $GPU_CHECK_OUT (default
# benchmarks/results/gpu/). Exit status: non-zero when a test or a benchmark fails.
#
#   bash benchmarks/gpu_check.sh            # PYTHON=... to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
OUT="${GPU_CHECK_OUT:-benchmarks/results/gpu}"

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA GPU available (torch.cuda.is_available() is False): nothing to check"
    exit 0
fi
"$PYTHON" -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"gpu_check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")'
mkdir -p "$OUT"
status=0
step() {  # step <name> <seconds> <command...>: run with a time limit, remember failures
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    if timeout "$limit" "$@"; then
        echo "== $name: ok in $((SECONDS - start)) s"
    else
        echo "== $name: FAILED (status $?) after $((SECONDS - start)) s"
        status=1
    fi
}

step "equivalence tests on cuda" 170 env MORSE_TEST_DEVICE=cuda "$PYTHON" -m pytest -q \
    tests/method/test_method_golden.py tests/method/test_method_equivalence.py \
    tests/method/test_method_channels_last.py tests/method/test_method_compile.py
BENCH=("$PYTHON" benchmarks/run.py --device cuda --no-loader --repeats 5 --warmup 2)
step "float32 step costs" 130 "${BENCH[@]}" --out "$OUT/fp32"
step "bf16 autocast + channels_last step costs" 120 "${BENCH[@]}" --amp --out "$OUT/amp"
step "torch.compile step costs (UNet 224 px)" 120 "${BENCH[@]}" --compile --settings unet2d_224 \
    --variants baseline morse morse_pointwise --no-profile --out "$OUT/compile"
step "float32 channels-last step costs (UNet 224 px)" 60 "${BENCH[@]}" --channels-last \
    --settings unet2d_224 --variants baseline morse --no-profile --out "$OUT/channels_last"
echo "gpu_check: results in $OUT (step_costs.csv, matmul_peak.csv, step_profile.csv per run)"
exit $status
