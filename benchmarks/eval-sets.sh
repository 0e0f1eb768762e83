#!/usr/bin/env bash
# Retrieval and relevance evaluation on every corpus of benchmarks/eval-docs.sh: trains one model per
# set with the configured embedder, then runs `cdgpt eval` on one half of its questions together with
# the off-topic questions of its language (the same half of those). Then the follow-up sets: questions
# asked after another one (each case carries its history), on the Debian sets and on samples/handbook; and
# the Chinese Debian questions asked of the English Debian model (cross-lingual, without a language model);
# and the facts that extractive answers must quote, on samples/handbook and the Writer pages; and Chinese in
# the other script: the Chinese Debian questions in Traditional Chinese (`traditional.py`) asked of the
# Chinese Debian model, and in Simplified Chinese asked of the Debian Reference in Traditional Chinese.
# Each set but the handbook and the company corpora (tidewell, lanxi, quillhour, jianqin, kestrel, calderbridge: their own off-topic questions) is also asked
# questions about other software and services (off-topic in its domain).
#
#   usage: benchmarks/eval-sets.sh [SET ...]         (default: every set below, and the follow-ups)
#   SPLIT=dev (default) while trying ideas; SPLIT=test once per change, for the README.
set -euo pipefail
cd "$(dirname "$0")/.."
CDGPT=${CDGPT:-.venv/bin/cdgpt}
SPLIT=${SPLIT:-dev}
export CDGPT_DATA_DIR=${CDGPT_DATA_DIR:-.cdgpt-bench}
export CDGPT_SOURCE_ROOT=/usr/share   # every corpus lives under /usr/share
sets=("$@")
[ "${#sets[@]}" -gt 0 ] || sets=(debian-en libreoffice-en policy-en nodejs-en nodejs-md postgresql-en vim-en debian-zh libreoffice-zh install-zh admin-handbook-zh gimp-zh reference-tw handbook tidewell lanxi quillhour jianqin kestrel calderbridge)
for name in "${sets[@]}"; do
    if [ "$name" = calderbridge ]; then  # a council's PDFs, printed by headless Chromium from their pages (make browser)
        pdfs="${PDF_DIR:-.cdgpt-printed}/calderbridge" profile=$(mktemp -d)  # not under the data folder
        mkdir -p "$pdfs"
        for page in benchmarks/eval/calderbridge/*.html; do
            pdf="$pdfs/$(basename "${page%.html}").pdf"
            [ -s "$pdf" ] || chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$profile" \
                --no-pdf-header-footer --print-to-pdf="$pdf" "file://$PWD/$page" >/dev/null 2>&1
        done
        rm -rf "$profile"
        CDGPT_SOURCE_ROOT=$pdfs "$CDGPT" train --model calderbridge "$pdfs" >/dev/null 2>&1
        "$CDGPT" eval --model calderbridge --split "$SPLIT" ${EVAL_ARGS:-} benchmarks/eval/calderbridge.jsonl | tail -n 1
        continue
    fi
    if [ -d "benchmarks/eval/$name" ]; then  # a company's documents written for the project, with its off-topic questions
        CDGPT_SOURCE_ROOT=$PWD "$CDGPT" train --model "$name" "benchmarks/eval/$name" >/dev/null 2>&1
        "$CDGPT" eval --model "$name" --split "$SPLIT" ${EVAL_ARGS:-} "benchmarks/eval/$name.jsonl" | tail -n 1
        continue
    fi
    if [ "$name" = handbook ]; then
        CDGPT_SOURCE_ROOT=$PWD "$CDGPT" train --model handbook samples/handbook >/dev/null 2>&1
    elif [ "$name" = reference-tw ]; then  # the Simplified Chinese questions of its pages, on the Traditional pages
        mapfile -t pages < <(benchmarks/eval-docs.sh reference-tw)
        "$CDGPT" train --model reference-tw "${pages[@]}" >/dev/null 2>&1
        echo -n "Simplified questions, "
        grep debian-reference-zh-cn benchmarks/eval/debian-zh.jsonl \
            | sed -e 's#debian-reference-zh-cn/#debian-reference-zh-tw/#' -e 's#\.zh-cn\.html#.zh-tw.html#' \
            > "$CDGPT_DATA_DIR/simplified.jsonl"
        "$CDGPT" eval --model reference-tw --split "$SPLIT" ${EVAL_ARGS:-} \
            "$CDGPT_DATA_DIR/simplified.jsonl" benchmarks/eval/offtopic-zh.jsonl | tail -n 1
    else
        mapfile -t pages < <(benchmarks/eval-docs.sh "$name")
        "$CDGPT" train --model "$name" "${pages[@]}" >/dev/null 2>&1
        questions="benchmarks/eval/$name.jsonl" language=${name##*-}
        if [ "$name" = nodejs-md ]; then  # the Node.js questions, of the same reference's Markdown sources
            questions="$CDGPT_DATA_DIR/nodejs-md.jsonl" language=en
            sed 's#\(doc/nodejs/api/[^"]*\)\.html#\1.md#' benchmarks/eval/nodejs-en.jsonl > "$questions"
        fi
        "$CDGPT" eval --model "$name" --split "$SPLIT" ${EVAL_ARGS:-} \
            "$questions" "benchmarks/eval/offtopic-$language.jsonl" | tail -n 1
        echo -n "other software, "  # off-topic, in the documents' domain: products and services they never name
        "$CDGPT" eval --model "$name" --split "$SPLIT" ${EVAL_ARGS:-} \
            "benchmarks/eval/offtopic-software-$language.jsonl" | tail -n 1
    fi
    if [ "$name" = debian-en ]; then  # the Chinese Debian questions, asked of the English pages (no translation)
        echo -n "Chinese questions, "
        sed -e 's#debian-reference-zh-cn/docs/#debian-reference-en/docs/#' -e 's#debian/FAQ/zh-cn/#debian/FAQ/#' \
            -e 's#\.zh-cn\.html#.en.html#' benchmarks/eval/debian-zh.jsonl > "$CDGPT_DATA_DIR/crosslingual.jsonl"
        "$CDGPT" eval --model debian-en --split "$SPLIT" ${EVAL_ARGS:-} \
            "$CDGPT_DATA_DIR/crosslingual.jsonl" benchmarks/eval/offtopic-zh.jsonl | tail -n 1
    fi
    if [ "$name" = debian-zh ]; then  # the same questions in Traditional Chinese, this half of them (by the originals)
        echo -n "Traditional questions, "
        .venv/bin/python benchmarks/traditional.py "$SPLIT" benchmarks/eval/debian-zh.jsonl \
            benchmarks/eval/offtopic-zh.jsonl > "$CDGPT_DATA_DIR/traditional.jsonl"
        "$CDGPT" eval --model debian-zh ${EVAL_ARGS:-} "$CDGPT_DATA_DIR/traditional.jsonl" | tail -n 1
    fi
    answers="benchmarks/eval/answers-$name.jsonl"  # the facts each extractive answer must quote
    if [ -f "$answers" ]; then
        echo -n "extractive answers, "
        "$CDGPT" eval --model "$name" --split "$SPLIT" ${EVAL_ARGS:-} "$answers" | tail -n 1
    fi
    followups="benchmarks/eval/followup-$name.jsonl"
    if [ -f "$followups" ]; then
        echo -n "follow-ups, "
        "$CDGPT" eval --model "$name" --split "$SPLIT" ${EVAL_ARGS:-} "$followups" | tail -n 1
    fi
done
