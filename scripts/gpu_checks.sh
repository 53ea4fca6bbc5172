#!/usr/bin/env bash
# Every GPU figure the issues ask for, in one device call (about 6-8 minutes on one H100).
# Prints one JSON line per benchmark; copy them into docs/benchmarks.md with the card and date.
#
# Before the call, here (the device machine sees only the repository and carried paths):
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu
#   cp ../shared/bench/hf_mlm_baseline.py .gpu/; cp -r ../shared/data/coref/litbank/conll .gpu/litbank
# then run `bash scripts/gpu_checks.sh` on the device with carry [".gpu"].
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUT_DIR=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
run() { echo "### $*"; timeout 240 "$@" 2>&1 | tail -n 12 | tee -a "$OUT_DIR/gpu_checks.log"; }
# issue 3: the HF BertForMaskedLM baseline and ours, same GPU, same job (goal: >= 2.0x base-sdpa at 512)
[ -f .gpu/hf_mlm_baseline.py ] && run python3 .gpu/hf_mlm_baseline.py --quick
run python3 -m spaneval bench pretrain
run python3 -m spaneval bench pretrain --compile
# issue 2: QA fine-tuning throughput at base size, 384 tokens, against BertForQuestionAnswering (goal >= 1.5x)
run python3 -m spaneval bench finetune --size base --batch 32
# issue 4: coreference inference at base size on LitBank: documents/s and peak memory
[ -d .gpu/litbank ] && run python3 -m spaneval bench infer --task coref --data .gpu/litbank --size base --limit 20
