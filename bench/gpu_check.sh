#!/usr/bin/env bash
# dagnet's GPU checks in one command, for a CUDA machine without network access: run from the
# repository root, e.g.
#
#     PYTHONPATH=src bash bench/gpu_check.sh
#
# 1. versions: nvidia-smi, the GPU's name, Python and the packages dagnet uses;
# 2. the CUDA tests ($CUDA_TESTS, default tests/test_cuda.py, tests/test_cuda_paths.py and the
#    benchmark's GPU test, those present) with pytest, or a short CPU-vs-GPU check where pytest or
#    hypothesis is not installed;
# 3. dagnet bench engine --device cuda: the Erdős–Rényi grid against the dense-masked network and,
#    if a checkout of github.com/BoCtrl-C/forward is at bench/_external/forward (or $FOURWARD_CODE),
#    against 4Ward's own code; then the 10^6- and 10^7-edge scale runs; then the 10^8-edge run if its
#    memory estimate fits; before that, bench/captured_step.py: a step replayed as a CUDA graph against
#    the eager step (N = 8000 at p = 0.01, and 10^7 edges).
#
# Everything goes to standard output and to $OUT (default bench/out/gpu): gpu_check.log (all of it),
# versions.txt, tests.log, grid.md, scale.md, captured.md, giant.md. Each phase has its own time limit and all
# together stay within $BUDGET seconds (default 470, under 8 minutes); a phase cut short leaves what
# it printed in the log. The exit code is that of the first phase that failed (0 if none did).

set -u -o pipefail

OUT=${OUT:-bench/out/gpu}
BUDGET=${BUDGET:-470}
PY=${PYTHON:-python3}
FOURWARD_CODE=${FOURWARD_CODE:-bench/_external/forward}
CUDA_TESTS=${CUDA_TESTS:-tests/test_cuda.py tests/test_cuda_paths.py tests/test_captured_step.py tests/test_bench.py::test_bench_engine_on_a_real_gpu}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PY FOURWARD_CODE CUDA_TESTS

mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1

START=$(date +%s)
STATUS=0

left() { echo $((BUDGET - ($(date +%s) - START))); }

# phase NAME SECONDS LOG COMMAND...: run COMMAND (a program or a function of this script) for at most
# SECONDS, less if the budget is nearly spent, its output also written to $OUT/LOG (LOG "-": not).
phase() {
    local name=$1 limit=$2 log=$3 remaining rc
    shift 3
    remaining=$(left)
    ((limit > remaining)) && limit=$remaining
    if ((limit < 15)); then
        echo "== $name: not run, $remaining s of the ${BUDGET} s budget left"
        return 0
    fi
    echo "== $name (at most $limit s, $(date -u +%H:%M:%S) UTC): $*"
    if [ "$log" = - ]; then
        timeout --kill-after=15 "$limit" bash -c '"$@"' phase "$@"
    else
        timeout --kill-after=15 "$limit" bash -c '"$@"' phase "$@" 2>&1 | tee "$OUT/$log"
    fi
    rc=$?
    ((rc == 124)) && echo "== $name: stopped at its $limit s limit"
    echo "== $name: exit code $rc after $(($(date +%s) - START)) s in all"
    ((rc != 0 && STATUS == 0)) && STATUS=$rc
    return 0
}

versions() {
    nvidia-smi || echo "nvidia-smi: not available"
    "$PY" - <<'EOF'
import importlib, platform
import torch
print("python", platform.python_version(), platform.platform())
print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("GPU", torch.cuda.get_device_name(0), f"{p.total_memory / 2**30:.1f} GiB", f"sm_{p.major}{p.minor}")
    free, total = torch.cuda.mem_get_info(0)
    print(f"free GPU memory {free / 2**30:.1f} of {total / 2**30:.1f} GiB")
for name in ("triton", "numba", "numpy", "scipy", "networkx", "pytest", "hypothesis"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as err:
        print(name, "not importable:", type(err).__name__, err)
import dagnet
from dagnet.engine.backends import BACKENDS
print("dagnet", dagnet.__file__, "back ends", BACKENDS)
EOF
    if [ -f "$FOURWARD_CODE/COMMIT" ]; then echo "4Ward's code: $FOURWARD_CODE at $(cat "$FOURWARD_CODE/COMMIT")"; fi
    git rev-parse HEAD 2>/dev/null || echo "(no git metadata: the tree as copied)"
}

cuda_tests() {
    local files=() f
    for f in $CUDA_TESTS; do
        [ -f "${f%%::*}" ] && files+=("$f")
    done
    if "$PY" -c "import pytest, hypothesis" 2>/dev/null; then
        "$PY" -m pytest -q -p no:cacheprovider -rs "${files[@]}"
    else
        echo "pytest or hypothesis is not installed here: the test files are not run; a short CPU-vs-GPU check instead"
        "$PY" - <<'EOF'
import torch
from dagnet import DAGNetwork
from dagnet.engine.backends import BACKENDS
from dagnet.topology import erdos_renyi_dag

wiring = erdos_renyi_dag(500, 0.02, seed=0, as_wiring=True)
cpu = DAGNetwork(wiring, seed=0, dtype=torch.float64)
x = torch.randn(32, cpu.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
want = cpu(x)
want.square().sum().backward()
for backend in [b for b in ("torch", "triton") if b in BACKENDS]:
    gpu = DAGNetwork(wiring, seed=0, dtype=torch.float64, device="cuda", backend=backend)
    got = gpu(x.cuda())
    got.square().sum().backward()
    errors = [float((got.cpu() - want).abs().max()), float((gpu.weight.grad.cpu() - cpu.weight.grad).abs().max())]
    print(backend, "largest differences from the CPU (outputs, weight gradients):", errors)
    assert max(errors) < 1e-9, backend
print("the CPU-vs-GPU check passed")
EOF
    fi
}

bench() {
    "$PY" -m dagnet.bench.engine --device cuda "$@"
}

export -f versions cuda_tests bench
phase versions 60 versions.txt versions
phase "CUDA tests" 120 tests.log cuda_tests

fourward=()
if [ -d "$FOURWARD_CODE" ]; then
    fourward=(--fourward-code "$FOURWARD_CODE")
else
    echo "== 4Ward's own code: no checkout at $FOURWARD_CODE, so the grid runs without it"
fi
phase grid 210 - bench --no-scale "${fourward[@]}" -o "$OUT/grid.md"
phase "scale runs, 10^6 and 10^7 edges" 100 - bench --scale all -o "$OUT/scale.md"
phase "CUDA graph against eager steps" 60 captured.md "$PY" bench/captured_step.py --device cuda
phase "scale run, 10^8 edges" 200 - bench --scale giant -o "$OUT/giant.md"

echo "== done in $(($(date +%s) - START)) s; exit code $STATUS; reports in $OUT"
exit "$STATUS"
