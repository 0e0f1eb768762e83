"""Terms for BM25: stemmed words (space-separated languages) and character bigrams (CJK).

`tokenize(question, question=True)` also drops Chinese question phrases ("怎么", "如何", "什么", ...),
which split a run so that no bigram spans them: the terms left are a question's evidence (`coverage`).
Traditional Chinese is folded into simplified first (OpenCC's t2s), pages and questions alike: a
question in either script finds pages in the other, and simplified text stays as it is.
Training counts each chunk's terms (`term_counts`) in its extraction workers: this module needs no numpy,
so they start without it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han characters (CJK ideographs, extension A, compatibility)
CJK = f"\u3040-\u30fa\u30fc-\u30ff{HAN}"  # kana, Han; not the middle dot ・
TOKEN = re.compile(rf"[{CJK}]+|[^\W_{CJK}]+", re.UNICODE)
IS_CJK = re.compile(rf"[{CJK}]")
KANA = re.compile("[\u3040-\u30ff]")
LETTER = re.compile(r"[^\W\d_]")
WORD = re.compile(r"[^\W_]+")  # TOKEN's words, in a text without CJK
# Question words and particles of Chinese questions, longest first so "怎么样" wins over "怎么".
_PHRASES = (
    "怎么样 怎么办 怎么 怎样 如何 什么 哪些 哪个 哪里 为什么 能不能 可不可以 可以 是否 有没有 应该 需要 "
    "吗 呢 吧 啊 的 了 是 我 我们 您 你 他 它 在 和 与 及 或 把 被 要 想 会 能 就 都 也 还 这 那 "
    "这个 那个 一个 有 没有 让 用 时 后 里 中 上 下 个 些 请问 一下 到底 多少 几"
)
QUESTION_PHRASES = sorted(_PHRASES.split(), key=len, reverse=True)
QUESTION_SPLIT = re.compile("|".join(map(re.escape, QUESTION_PHRASES)))
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
# A question's contractions say nothing of its subject (pages keep them in the index): "won't" is "will",
# "didn't" "did", an ending ('s, 'd, 'm, 'll, 've, 're after a letter: not Vim's quoted 't') goes, typed with
# any apostrophe; and contractions typed without one are stop words (not "im", "cant", "wont": IM is a
# postcode, cant and wont are words).
APOSTROPHES = str.maketrans("\u00b4\u2018`\u02bc\u2019", "'''''")  # before NFKC, which makes ´ a space and an accent
CONTRACTIONS = (
    (re.compile(r"\b(wo|ca|sha)n't\b"), lambda m: {"wo": "will", "ca": "can", "sha": "shall"}[m[1]]),
    (re.compile(r"\bain't\b"), lambda m: "is"),
    (re.compile(r"(?<=[a-z])(?:n't|'(?:s|d|m|ll|ve|re))\b"), lambda m: ""),
)
QUESTION_STOP_WORDS = STOP_WORDS | frozenset(
    "whats hows wheres whos thats theres ive youre youve theyre theyve weve shouldve dont doesnt didnt "  # noqa: SIM905
    "isnt arent wasnt werent couldnt shouldnt wouldnt havent hasnt".split()
)


_local = threading.local()


def _stemmer():
    """This thread's stemmer: a PyStemmer object must not be used by two threads at once.

    Creating one costs under a microsecond, so a thread per request (`cdgpt serve`) is fine.
    """
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


STEM_CACHE = 200_000  # words whose stems a thread keeps: words repeat across chunks and documents


def _stem(words: list[str]) -> list[str]:
    """The words' stems, through this thread's cache (a dict lookup costs less than PyStemmer's call a word)."""
    cache = getattr(_local, "stems", None)
    if cache is None or len(cache) > STEM_CACHE:
        cache = _local.stems = {}
    stems = list(map(cache.get, words))
    if None not in stems:
        return stems
    missing = list(dict.fromkeys(w for w, stem in zip(words, stems, strict=True) if stem is None))
    cache.update(zip(missing, _stemmer().stemWords(missing), strict=True))
    return list(map(cache.__getitem__, words))


def simplified(text: str) -> str:
    """The text with traditional Chinese folded into simplified (OpenCC's t2s); without Han characters,
    or with kana (Japanese, whose kanji are no traditional Chinese), as it is."""
    if IS_CJK.search(text) is None or KANA.search(text):
        return text
    return convert("t2s", text)


SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """Lone surrogates (a JSON escape such as \\ud800, a broken decoder or PDF font map) cannot be encoded:
    make them U+FFFD, so a stream, a reply, a kept conversation or the embedder does not fail on them."""
    return SURROGATE.sub("\ufffd", text) if SURROGATE.search(text) else text


def convert(config: str, text: str) -> str:
    """The text converted by OpenCC's `config` ("t2s": traditional characters, and their phrases, into
    simplified ones); a lone surrogate (JSON allows "\\ud800") becomes "?" first, as OpenCC takes UTF-8 only."""
    converter = _converter(config)
    try:
        return str(converter.convert(text))
    except UnicodeEncodeError:
        return str(converter.convert(text.encode("utf-8", "replace").decode("utf-8")))


@lru_cache(maxsize=4)
def _converter(config: str) -> Any:
    import opencc

    return opencc.OpenCC(config)


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)] if len(run) > 1 else [run]


def tokenize(text: str, *, question: bool = False) -> list[str]:
    """Stemmed words without stop words; CJK runs become overlapping character bigrams.

    With `question`, Chinese question phrases are dropped first and split the run where they stood.
    """
    stop_words = QUESTION_STOP_WORDS if question else STOP_WORDS
    text = unicodedata.normalize("NFKC", text.translate(APOSTROPHES) if question else text).lower()
    if question:
        for contraction, expanded in CONTRACTIONS:
            text = contraction.sub(expanded, text)
    if IS_CJK.search(text) is None:  # most texts: words only, one pass
        return _stem([word for word in WORD.findall(text) if word not in stop_words])
    text = simplified(text)
    tokens: list[str] = []
    words: list[str] = []
    for run in TOKEN.findall(text):
        if not run.isascii() and IS_CJK.match(run):  # isascii first: a cheap no for most runs
            for piece in QUESTION_SPLIT.split(run) if question else [run]:
                tokens.extend(_bigrams(piece) if piece else [])
        elif run not in stop_words:
            words.append(run)
    return _stem(words) + tokens


WORD_OF_LETTERS = re.compile(rf"[^\W_{CJK}]+")  # TOKEN's words: accented letters kept, digits let in
SENTENCE_STARTS = re.compile(r"(?:^|[.?!:;])[\s\-*•\d)]*", re.MULTILINE)  # also a line's, after a list marker
ENGLISH_WORD = re.compile(r"[a-z]+")
ENGLISH_STOP_SHARE = 0.2  # English prose: about a third of its words are stop words; other languages far fewer
CALENDAR = frozenset(  # days and months: no names
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "  # noqa: SIM905
    "august september october november december".split()
)


# three Latin words or more, spaced, all but the first in lower case (not "Outlook for Mac"), from a word's start
LATIN_PHRASE = re.compile(r"(?<![A-Za-z'])[A-Za-z][a-z]*(?:'[a-z]+)?(?:[ ]+[a-z]+(?:'[a-z]+)?){2,}(?![A-Za-z'])")


def name_terms(question: str) -> list[str]:
    """The terms of the words that name something in a question (products, places, commands): a paraphrase
    replaces other words, not names, so a model that lacks one is about something else (`relevance.covers`).

    In English, a word with a capital inside it (OneDrive, XLOOKUP) or where no sentence or line starts
    (Homebrew, Slack), but not an acronym of three letters or fewer, nor any when capitals are most of
    the words (a shouted or title-cased question); in a mainly CJK question, every Latin word (Excel,
    rsync, WPS) but those of an English phrase (three words or more, one a stop word: "too many requests").
    Never a stop word, a day or month, or a word with digits (A4, H2O: values); none in a
    question that reads as another language (German capitalises nouns).
    """
    question = unicodedata.normalize("NFKC", question)
    words = [m for m in WORD_OF_LETTERS.finditer(question) if len(m.group()) > 1 and m.group().isalpha()]
    if len(IS_CJK.findall(question)) > len(words):  # mainly CJK: not the words of a quoted English message
        unquoted = LATIN_PHRASE.sub(lambda m: " " if STOP_WORDS.intersection(m[0].lower().split()) else m[0], question)
        names = [w for w in WORD_OF_LETTERS.findall(unquoted) if len(w) > 1 and w.isalpha()]
    elif reads_as_english(question) is False:
        return []
    else:
        starts = {m.end() for m in SENTENCE_STARTS.finditer(question)}
        inner = [m.group() for m in words if m.start() not in starts]
        if len(inner) >= 3 and 2 * sum(w[0].isupper() for w in inner) > len(inner):
            return []  # shouted or title-cased: capitals tell nothing
        names = [  # a capital inside the word, or first where no sentence starts; not HR, PTO (spelt out)
            w
            for m in words
            if (not (w := m.group())[1:].islower() or (w[0].isupper() and m.start() not in starts))
            and not (w.isupper() and len(w) <= 3)
        ]
    return tokenize(" ".join(w for w in names if w.lower() not in CALENDAR))


def mostly_cjk(text: str) -> bool:
    """Whether CJK characters (kana, Han) make most of a text's letters."""
    return 2 * len(IS_CJK.findall(text)) > len(LETTER.findall(text))


def reads_as_english(text: str) -> bool | None:
    """Whether a text's words are English as far as stop words tell; None under three words."""
    words = ENGLISH_WORD.findall(text.lower())
    if len(words) < 3:
        return None
    return sum(w in STOP_WORDS for w in words) >= ENGLISH_STOP_SHARE * len(words)


def term_counts(text: str) -> dict[str, int]:
    """How often each term of `tokenize(text)` occurs, in order of first occurrence: what BM25 indexes."""
    return Counter(tokenize(text))


@dataclass(frozen=True, slots=True)
class Counted:
    """A chunk's term counts, held compactly until it is indexed (as a dict they would cost ~1.6 KB a
    chunk): its terms' numbers in a vocabulary its document's chunks share, and their counts (int32)."""

    vocabulary: list[str]
    numbers: array
    counts: array

    def as_dict(self) -> dict[str, int]:
        return dict(zip([self.vocabulary[n] for n in self.numbers], self.counts, strict=True))


class Vocabulary:
    """Terms numbered in order of first use: one document's, which its chunks' `Counted` share."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.words: list[str] = []

    def count(self, text: str) -> Counted:
        """`term_counts(text)`, its terms numbered here."""
        counts, numbers = term_counts(text), self.numbers
        new = [term for term in counts if term not in numbers]
        numbers.update(zip(new, range(len(self.words), len(self.words) + len(new)), strict=True))
        self.words.extend(new)
        return Counted(self.words, array("i", map(numbers.__getitem__, counts)), array("i", counts.values()))
