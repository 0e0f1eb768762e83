"""Spelling: a question's words typed with two letters swapped, mended against the model's own words.

A word typed with its letters swapped ("refreence", "Naivgator") is a term the model lacks, so BM25 cannot
find it and the relevance decision counts it as evidence the documents lack, and as a name the model lacks
when it is capitalised: the question is ranked worse, or refused. Such a word is replaced by the word with
two neighbouring letters swapped back (not its first) whose term the model holds in the most chunks,
keeping its capitals.
Only a swap: a missing, doubled or wrong letter has many more neighbours, and on the evaluation sets'
questions they turned words the model lacks into others it holds ("heater" into "header", "hiking" into
"liking"). Only words of letters, MIN_LETTERS or longer, whose own term the model lacks (a word it holds
is never changed); Chinese and other scripts are left as they are.
"""

from __future__ import annotations

import re

from cdgpt.index.lexical import LexicalIndex
from cdgpt.index.terms import STOP_WORDS, tokenize

MIN_LETTERS = 6  # a misspelt word this long or longer is mended
LATIN_WORD = re.compile(r"\b[A-Za-z]+\b")


def mended(lexical: LexicalIndex, question: str) -> str:
    """The question with each misspelt word replaced by the model's closest word (see the module)."""
    return LATIN_WORD.sub(lambda word: _mended_word(lexical, word[0]), question)


def _mended_word(lexical: LexicalIndex, word: str) -> str:
    lower = word.lower()
    if len(word) < MIN_LETTERS or lower in STOP_WORDS or _held(lexical, lower):
        return word
    held = [(lexical.chunks_with(term), candidate) for candidate in _swapped(lower) if (term := _term(candidate))]
    held = [(chunks, candidate) for chunks, candidate in held if chunks]
    if not held:
        return word
    best = max(held, key=lambda found: (found[0], found[1]))[1]
    return best.upper() if word.isupper() else best[0].upper() + best[1:] if word[0].isupper() else best


def _term(word: str) -> str | None:
    terms = tokenize(word)
    return terms[0] if len(terms) == 1 else None


def _held(lexical: LexicalIndex, word: str) -> bool:
    term = _term(word)
    return term is None or lexical.chunks_with(term) > 0


def _swapped(word: str) -> set[str]:
    """The words with two neighbouring letters of this one swapped, its first letter kept (a swap with the
    first letter is a rarer slip, and turned "raised" into "arised")."""
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(1, len(word) - 1)} - {word}
