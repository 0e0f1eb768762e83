#!/usr/bin/env bash
# Retrieval evaluation on Debian's own manuals (installed from Debian's packages, never committed):
# trains debian-en and debian-zh with the configured embedder, then runs `cdgpt eval` on each set.
# Usage: benchmarks/eval-debian.sh [en|zh ...]      (default: en zh)
set -euo pipefail
cd "$(dirname "$0")/.."
CDGPT=${CDGPT:-.venv/bin/cdgpt}
export CDGPT_DATA_DIR=${CDGPT_DATA_DIR:-.cdgpt-bench}
export CDGPT_SOURCE_ROOT=/usr/share   # the manuals live under /usr/share/doc and /usr/share/debian-reference
for set in "${@:-en zh}"; do
  for name in $set; do
    mapfile -t pages < <(benchmarks/debian-docs.sh "$name" | sed 's#^#doc/#')
    start=$(date +%s.%N)
    "$CDGPT" train --model "debian-$name" "${pages[@]}" 2>/dev/null
    echo "trained debian-$name in $(echo "$(date +%s.%N) - $start" | bc) s"
    "$CDGPT" eval --model "debian-$name" "benchmarks/eval/debian-$name.jsonl" ${EVAL_ARGS:-}
  done
done
