"""One half of an evaluation set with a slip typed in each question: in its longest word of six letters or
more, two neighbouring letters swapped (not the first: `swap`, the slip chat mends) or one letter left out
(`drop`, which it does not); `none` keeps the questions as they are. The half is the original questions'
(`cdgpt eval --split`), so the three compare on the same questions. Seeded: the same slips every run.

    usage: python benchmarks/typos.py SET.jsonl dev|test none|swap|drop > OUT.jsonl
"""

from __future__ import annotations

import json
import random
import re
import sys

from cdgpt.answer.evaluation import split_of

LONG_WORD = re.compile(r"[A-Za-z]{6,}")


def slipped(question: str, kind: str, rng: random.Random) -> str:
    words = list(LONG_WORD.finditer(question))
    if not words or kind == "none":
        return question
    word = max(words, key=lambda m: len(m[0]))
    text, i = word[0], rng.randrange(1, len(word[0]) - 2)
    typed = text[:i] + text[i + 1] + text[i] + text[i + 2 :] if kind == "swap" else text[:i] + text[i + 1 :]
    return question[: word.start()] + typed + question[word.end() :]


def main(path: str, half: str, kind: str) -> None:
    rng = random.Random(7)
    with open(path, encoding="utf-8") as cases:
        for line in cases:
            case = json.loads(line)
            if split_of(case["question"]) == half:
                print(json.dumps({**case, "question": slipped(case["question"], kind, rng)}, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:])
