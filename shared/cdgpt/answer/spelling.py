"""Spelling: a question's words typed with two letters swapped, or spelt the other side of the Atlantic,
mended against the model's own words.

A word typed with its letters swapped ("refreence", "Naivgator") is a term the model lacks, so BM25 cannot
find it and the relevance decision counts it as evidence the documents lack, and as a name the model lacks
when it is capitalised: the question is ranked worse, or refused. So is a British spelling asked of
American pages ("licence" of a manual that writes "license", "colour", "organisation"), and the other way
round. Such a word is replaced by the word with two neighbouring letters swapped back (not its first), or by
its other spelling, whose term the model holds in the most chunks, keeping its capitals.
Only a swap: a missing, doubled or wrong letter has many more neighbours, and on the evaluation sets'
questions they turned words the model lacks into others it holds ("heater" into "header", "hiking" into
"liking"). Only words of letters, MIN_LETTERS or longer (OTHER_SPELLING_LETTERS for another spelling),
whose own term the model lacks (a word it holds is never changed). In Chinese, a word with two accepted
forms (账号 and the older 帐号, 登录 and 登陆, 其他 and 其它) is asked in the form the model holds when it
lacks the one asked.
"""

from __future__ import annotations

import re

from cdgpt.index.lexical import LexicalIndex
from cdgpt.index.terms import STOP_WORDS, tokenize

MIN_LETTERS = 6  # a misspelt word this long or longer is mended
OTHER_SPELLING_LETTERS = 4  # a word this long or longer may be spelt the other way ("grey")
LATIN_WORD = re.compile(r"\b[A-Za-z]+\b")
# A word's British and American spellings: each pattern's two forms, tried either way
SPELLINGS = [
    (re.compile(british), re.compile(american), british_form, american_form)
    for british, american, british_form, american_form in [
        (r"our(?=s?$|ed$|ing$|ful$|ite$|ites$|able$)", r"or(?=s?$|ed$|ing$|ful$|ite$|ites$|able$)", "our", "or"),
        (
            r"is(?=e$|es$|ed$|ing$|er$|ers$|ation$|ations$)",
            r"iz(?=e$|es$|ed$|ing$|er$|ers$|ation$|ations$)",
            "is",
            "iz",
        ),
        (r"ys(?=e$|es$|ed$|ing$)", r"yz(?=e$|es$|ed$|ing$)", "ys", "yz"),  # analyse
        (r"ence(?=s?$)", r"ense(?=s?$)", "ence", "ense"),  # licence, defence
        (r"ll(?=ed$|ing$|er$|ers$)", r"(?<=[aeiou])l(?=ed$|ing$|er$|ers$)", "ll", "l"),  # travelled
        (r"re(?=s?$)", r"er(?=s?$)", "re", "er"),  # centre, litre
        (r"ogue(?=s?$)", r"og(?=s?$)", "ogue", "og"),  # catalogue
        (r"^grey", r"^gray", "grey", "gray"),
    ]
]


# Chinese words of two accepted forms, the commoner first: the installation guide writes 帐号, questions 账号
CHINESE_FORMS = [("账号", "帐号"), ("账户", "帐户"), ("账单", "帐单"), ("登录", "登陆"), ("其他", "其它"), ("部分", "部份"),
                 ("作为", "做为"), ("好像", "好象"), ("身份", "身分"), ("唯一", "惟一")]  # fmt: skip


def mended(lexical: LexicalIndex, question: str) -> str:
    """The question with each misspelt word replaced by the model's closest word (see the module)."""
    question = LATIN_WORD.sub(lambda word: _mended_word(lexical, word[0]), question)
    for one, other in CHINESE_FORMS:
        for asked, held in ((one, other), (other, one)):
            if asked in question and not lexical.chunks_with(asked) and lexical.chunks_with(held):
                question = question.replace(asked, held)
    return question


def _mended_word(lexical: LexicalIndex, word: str) -> str:
    lower = word.lower()
    if len(word) < OTHER_SPELLING_LETTERS or lower in STOP_WORDS or _chunks_with(lexical, lower) != 0:
        return word  # short, a stop word, held, or no single term
    candidates = _other_spellings(lower) | (_swapped(lower) if len(word) >= MIN_LETTERS else set())
    held = [(chunks, candidate) for candidate in candidates if (chunks := _chunks_with(lexical, candidate))]
    if not held:
        return word
    best = max(held)[1]  # in the most chunks (ties: the last in alphabetical order)
    return best.upper() if word.isupper() else best[0].upper() + best[1:] if word[0].isupper() else best


def _chunks_with(lexical: LexicalIndex, word: str) -> int | None:
    """How many chunks hold the word's term; None when it makes no term or several (a stop word)."""
    terms = tokenize(word)
    return lexical.chunks_with(terms[0]) if len(terms) == 1 else None


def _swapped(word: str) -> set[str]:
    """The words with two neighbouring letters of this one swapped, its first letter kept (a swap with the
    first letter is a rarer slip, and turned "raised" into "arised")."""
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(1, len(word) - 1)} - {word}


def _other_spellings(word: str) -> set[str]:
    """The word spelt the other side of the Atlantic, by each pattern of SPELLINGS it matches."""
    found = set()
    for british, american, british_form, american_form in SPELLINGS:
        found.add(british.sub(american_form, word))
        found.add(american.sub(british_form, word))
    return found - {word}
