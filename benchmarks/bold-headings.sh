#!/usr/bin/env bash
# Headings written as bold lines: each set's HTML pages copied with every <h2>..<h6> rewritten as a
# paragraph of one bold line, as Word users and web editors write them (<p><strong>2.1. Scope</strong></p>),
# then trained and asked the set's answerable questions (this half) beside the pages as they are.
# What a bold heading is worth to retrieval, against real headings (docs/extraction.md).
#
#   usage: benchmarks/bold-headings.sh [SET ...]      (default: debian-en policy-en libreoffice-en)
#   SPLIT=dev (default) or test; WORK=the folder for the copies and the models
set -euo pipefail
cd "$(dirname "$0")/.."
CDGPT=${CDGPT:-.venv/bin/cdgpt}
SPLIT=${SPLIT:-dev}
WORK=${WORK:-.cdgpt-bench/bold}
sets=("$@")
[ "${#sets[@]}" -gt 0 ] || sets=(debian-en policy-en libreoffice-en)
for name in "${sets[@]}"; do
    mapfile -t pages < <(benchmarks/eval-docs.sh "$name")
    printf '%s\n' "${pages[@]}" | .venv/bin/python -c '
import pathlib, re, shutil, sys
root, heading = pathlib.Path(sys.argv[1]), re.compile(r"<h([2-6])\b[^>]*>(.*?)</h\1>", re.S | re.I)
for rel in sys.stdin.read().split():
    source, copy = pathlib.Path("/usr/share", rel), root / rel
    copy.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix != ".html":
        shutil.copy(source, copy)
        continue
    bold = lambda m: "<p><strong>" + re.sub(r"<[^>]+>", "", m.group(2)) + "</strong></p>"
    copy.write_text(heading.sub(bold, source.read_text(errors="replace")))
' "$WORK/root"
    for kind in headings bold; do
        root=/usr/share
        [ "$kind" = bold ] && root=$WORK/root
        export CDGPT_DATA_DIR=$WORK/$kind CDGPT_SOURCE_ROOT=$root
        "$CDGPT" train --model "$name" "${pages[@]}" >/dev/null 2>&1
        echo -n "$kind, "
        "$CDGPT" eval --model "$name" --split "$SPLIT" "benchmarks/eval/$name.jsonl" | tail -n 1
    done
done
