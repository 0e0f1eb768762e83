#!/usr/bin/env bash
# Questions typed with a slip: one half of each English set's questions asked as written, with two
# neighbouring letters of their longest word swapped (the slip chat mends: `answer/spelling.py`) and with
# one letter of it left out (a slip it does not mend), by `typos.py`, of the models `eval-sets.sh` trained.
#
#   usage: benchmarks/eval-typos.sh [SET ...]     (default: the six English sets; run eval-sets.sh first)
#   SPLIT=dev (default) or test; CDGPT_DATA_DIR as for eval-sets.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CDGPT=${CDGPT:-.venv/bin/cdgpt}
SPLIT=${SPLIT:-dev}
export CDGPT_DATA_DIR=${CDGPT_DATA_DIR:-.cdgpt-bench}
export CDGPT_SOURCE_ROOT=/usr/share
sets=("$@")
[ "${#sets[@]}" -gt 0 ] || sets=(debian-en libreoffice-en policy-en nodejs-en postgresql-en vim-en)
for name in "${sets[@]}"; do
    for kind in none swap drop; do
        questions="$CDGPT_DATA_DIR/$name-typed-$kind.jsonl"
        .venv/bin/python benchmarks/typos.py "benchmarks/eval/$name.jsonl" "$SPLIT" "$kind" > "$questions"
        echo -n "slip: $kind, "
        "$CDGPT" eval --model "$name" ${EVAL_ARGS:-} "$questions" | tail -n 1
    done
done
