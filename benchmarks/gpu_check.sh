#!/usr/bin/env bash
# The GPU check of topotta-lite, for a machine with one CUDA GPU: at most 5 minutes.
#
#   1. the CUDA tests (the batched torch engine of PCES against the CPU engine, TopoTTA on CUDA);
#   2. the batched PCES benchmark (benchmarks/bench_pces.py): images per second on the GPU for
#      224 x 224 EfficientNet-Lite0 features (64 channels on a 56 x 56 grid), against a goal of
#      500 images per second, next to the CPU's numba engine on the same images.
#
# Usage, from anywhere:  bash benchmarks/gpu_check.sh
#   PYTHON=...   the interpreter (default: python3; it needs torch with CUDA, numpy, numba, scipy,
#                scikit-learn, threadpoolctl, tqdm, pytest and hypothesis)
#   INPUTS=...   an npz made on any machine by `python benchmarks/bench_pces.py --save-inputs X`
#                (the embedded benchmark's real features and pseudo-labels); default
#                build/bench_pces_inputs.npz when it exists, else Lite0-shaped synthetic inputs.
# Exit status: 0 all ran, 1 a step failed, 3 no CUDA device.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1  # the CPU rows: one thread
start=$(date +%s)

"$PY" - <<'EOF' || exit 3
import sys
import torch
if not torch.cuda.is_available():
    print("gpu_check: no CUDA device visible to torch", torch.__version__, file=sys.stderr)
    sys.exit(3)
p = torch.cuda.get_device_properties(0)
print(f"gpu_check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}")
EOF

status=0
echo "== CUDA tests"
timeout 150 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" \
    tests/test_pces_cuda.py "tests/test_pces.py::test_cuda_batch_matches_cpu" || status=1

echo "== batched PCES benchmark"
inputs=${INPUTS:-build/bench_pces_inputs.npz}
if [ -f "$inputs" ]; then
    source_args=(--inputs "$inputs" --repeat 8)
else
    echo "(no $inputs: Lite0-shaped synthetic inputs)"
    source_args=(--synthetic 256 --repeat 4)
fi
timeout 150 "$PY" benchmarks/bench_pces.py "${source_args[@]}" --cpu-images 32 \
    --batch-sizes 32,128,256,512 --goal 500 || status=1

echo "gpu_check: $(( $(date +%s) - start )) s, status $status"
exit $status
