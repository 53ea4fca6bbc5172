#!/usr/bin/env bash
# Every GPU figure of docs/benchmarks.md in one device call: at most 9 minutes on a fresh H200
# (torch 2.11, transformers 5.17; no datasets, evaluate or streamlit there, and none is needed).
#
#   bash scripts/gpu_checks.sh              # on the GPU machine: device `run`, timeout_s 600
#   bash scripts/gpu_checks.sh --cpu-tiny   # the same checks on CPU at tiny size (CI runs this)
#
# No preparation: the data is the bundled samples. Optional, for coreference on LitBank instead of
# the bundled two documents: `mkdir -p .gpu && cp -r ../shared/data/coref/litbank/conll .gpu/litbank`
# here, and carry [".gpu"]. Checks, in order of importance (each compares like with like; the
# Hugging Face side runs in the same process, see each benchmark's "options"):
#   pretrain_eager    ours vs BertForMaskedLM+SDPA+bf16, base preset, 512 tokens, no compile
#                     (ours: packed rows, chunked vocabulary loss, no host sync per step; goal >= 2.0x)
#   finetune_base     QA fine-tuning at base 384, ours vs Trainer-style group_by_length
#   coref_infer       coreference inference at base size: documents/s, peak memory
#   pretrain_compile  as pretrain_eager, torch.compile on both sides (ours: model + heads + losses
#                     in one graph, fixed target slots; goal >= 1.4x)
# Each check writes $OUT/NAME.json (its benchmark's JSON line, or {"status": "failed"|"skipped",
# "reason": ...}); $OUT/gpu_checks.log holds every output; the last lines are a summary table.
# A time guard gives each check at most what is left of GPU_CHECKS_BUDGET_S (default 540 s; 2400
# with --cpu-tiny).
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
if [ "${1:-}" = "--cpu-tiny" ]; then MODE=cpu-tiny; elif [ $# -gt 0 ]; then
    echo "usage: bash scripts/gpu_checks.sh [--cpu-tiny]" >&2; exit 2
fi
OUT_DIR=${OUT:-$PWD/gpu_checks_out}
mkdir -p "$OUT_DIR"
LOG=$OUT_DIR/gpu_checks.log
DEFAULT_BUDGET_S=540
[ "$MODE" = cpu-tiny ] && DEFAULT_BUDGET_S=2400  # two shared CPU cores: coref and compile are slow
BUDGET_S=${GPU_CHECKS_BUDGET_S:-$DEFAULT_BUDGET_S}
START_S=$(date +%s)
SCRATCH=$(mktemp -d)
# The GPU machine has no datasets, evaluate or streamlit: make importing them fail here too.
mkdir -p "$SCRATCH/blocked"
for module in datasets evaluate streamlit; do
    echo "raise ImportError('$module is not installed on the GPU machine')" >"$SCRATCH/blocked/$module.py"
done
export PYTHONPATH=$SCRATCH/blocked:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
# A fresh GPU machine has no cache; on CPU the usual one is reused (its shards save minutes).
[ "$MODE" = gpu ] && export SPANEVAL_CACHE=${SPANEVAL_CACHE:-$SCRATCH/cache}
SUMMARY=()

# check NAME LIMIT_S COMMAND...: run COMMAND under the time guard; its last JSON line -> NAME.json.
check() {
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET_S - ($(date +%s) - START_S)))
    local allowed=$((left < limit ? left : limit))
    echo "### $name (limit ${allowed}s): $*" | tee -a "$LOG"
    if [ "$allowed" -lt 20 ]; then
        record "$name" skipped "time guard: ${left}s of ${BUDGET_S}s left"
        return
    fi
    local begin rc
    begin=$(date +%s)
    timeout "$allowed" "$@" >"$SCRATCH/$name.out" 2>&1
    rc=$?
    cat "$SCRATCH/$name.out" >>"$LOG"
    tail -n 3 "$SCRATCH/$name.out"
    local line
    line=$(grep '^{' "$SCRATCH/$name.out" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
        echo "$line" >"$OUT_DIR/$name.json"
        SUMMARY+=("$name ok $(($(date +%s) - begin))s")
    elif [ "$rc" -eq 124 ]; then
        record "$name" failed "timed out after ${allowed}s"
    else
        record "$name" failed "exit code $rc: $(tail -n 1 "$SCRATCH/$name.out" | tr -d '"\\' | cut -c1-300)"
    fi
}

record() {
    printf '{"bench": "%s", "status": "%s", "reason": "%s"}\n' "$1" "$2" "$3" >"$OUT_DIR/$1.json"
    SUMMARY+=("$1 $2: $3")
    echo "$1 $2: $3" | tee -a "$LOG"
}

{
    date -u +%Y-%m-%dT%H:%M:%SZ
    echo "mode $MODE, budget ${BUDGET_S}s, git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
} 2>&1 | tee -a "$LOG"

COREF_DATA=()
[ -d .gpu/litbank ] && COREF_DATA=(--data .gpu/litbank --limit 20)
[ ${#COREF_DATA[@]} -eq 0 ] && echo "coref_infer: no .gpu/litbank, using the bundled coref sample" | tee -a "$LOG"

if [ "$MODE" = gpu ]; then
    python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: use --cpu-tiny")' || exit 1
    PRETRAIN=(python3 -m spaneval bench pretrain --device cuda --preset base --steps 10 --warmup 5 --rounds 3)
    check pretrain_eager 150 "${PRETRAIN[@]}"
    check finetune_base 120 python3 -m spaneval bench finetune --size base --batch 32 --rounds 3
    check coref_infer 90 python3 -m spaneval bench infer --task coref --size base "${COREF_DATA[@]}"
    check pretrain_compile 330 "${PRETRAIN[@]}" --compile
else
    TINY=(--device cpu --preset tiny --steps 2 --warmup 1 --rounds 1 micro_batch_size=4 batch_size=4)
    check pretrain_eager 500 python3 -m spaneval bench pretrain "${TINY[@]}"
    check finetune_base 400 python3 -m spaneval bench finetune --size tiny --batch 8 --steps 2 --rounds 1
    check coref_infer 600 python3 -m spaneval bench infer --task coref --size tiny --limit 1
    check pretrain_compile 900 python3 -m spaneval bench pretrain "${TINY[@]}" --compile
fi

echo "=== summary ($MODE, $(($(date +%s) - START_S))s of ${BUDGET_S}s)" | tee -a "$LOG"
failed=0
for row in "${SUMMARY[@]}"; do
    echo "$row" | tee -a "$LOG"
    [[ "$row" == *" ok "* ]] || failed=1
done
rm -rf "$SCRATCH"
exit $failed
