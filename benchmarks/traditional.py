"""The questions of evaluation sets in Traditional Chinese (OpenCC's s2twp: Taiwan's characters and words),
one half of them, chosen by the Simplified question's hash as `cdgpt eval --split` would: JSON lines out.

    .venv/bin/python benchmarks/traditional.py dev|test FILE.jsonl [FILE.jsonl ...] > traditional.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import opencc

from cdgpt.answer.evaluation import split_of


def main(split: str, paths: list[str]) -> None:
    converter = opencc.OpenCC("s2twp")
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            case = json.loads(line) if line.strip() else None
            if case and split_of(case["question"]) == split:
                case["question"] = converter.convert(case["question"])
                print(json.dumps(case, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
