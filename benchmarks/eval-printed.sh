#!/usr/bin/env bash
# The PDF reader against the HTML one, on the same pages and questions: each page of a set printed to PDF
# by headless Chromium (`print-pdfs.sh`, as a person saves a web page as a PDF), trained as a model of its
# own, and asked the set's questions with each expected page mapped to its PDF, with the off-topic
# questions of its language. Compare with `eval-sets.sh SET` on the same split.
#
#   usage: benchmarks/eval-printed.sh [SET ...]     (default: libreoffice-en libreoffice-zh)
#   SPLIT=dev (default) or test; PDF_DIR: where the PDFs go (default .cdgpt-printed), kept for reuse.
set -euo pipefail
cd "$(dirname "$0")/.."
CDGPT=${CDGPT:-.venv/bin/cdgpt}
SPLIT=${SPLIT:-dev}
export CDGPT_DATA_DIR=${CDGPT_DATA_DIR:-.cdgpt-bench}
pdfs=${PDF_DIR:-.cdgpt-printed}  # not under the data folder: a model never reads from it
sets=("$@")
[ "${#sets[@]}" -gt 0 ] || sets=(libreoffice-en libreoffice-zh)
for name in "${sets[@]}"; do
    benchmarks/print-pdfs.sh "$name" "$pdfs"
    mapfile -t pages < <(benchmarks/eval-docs.sh "$name" | sed 's/\.html$/.pdf/')
    CDGPT_SOURCE_ROOT=$pdfs "$CDGPT" train --model "$name-pdf" "${pages[@]}" >/dev/null 2>&1
    sed 's#\("expected_source": "[^"]*\)\.html"#\1.pdf"#' "benchmarks/eval/$name.jsonl" > "$CDGPT_DATA_DIR/$name-pdf.jsonl"
    echo -n "printed to PDF, "
    "$CDGPT" eval --model "$name-pdf" --split "$SPLIT" ${EVAL_ARGS:-} \
        "$CDGPT_DATA_DIR/$name-pdf.jsonl" "benchmarks/eval/offtopic-${name##*-}.jsonl" | tail -n 1
done
