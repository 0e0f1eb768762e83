"""Which language a question and a model's documents are in, told apart by script (no language model).

Only what cross-lingual search needs: whether a question is written in another script than the
documents (Chinese or Japanese against English, or the reverse), and what to call the documents'
main language when asking a language model to translate into it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from cdgpt.answer.dictionary import english_glosses
from cdgpt.answer.retrieval import LoadedModel
from cdgpt.index.terms import CJK, IS_CJK, KANA, LETTER, convert, mostly_cjk, reads_as_english, simplified

CJK_RUN = re.compile(f"[{CJK}]+")
SAMPLE_CHUNKS = 200  # chunks read, evenly spaced, to tell a model's main language and script
REMEMBERED = 64  # model versions whose main language is kept
TRADITIONAL_SHARE = 0.05  # of the sampled Han characters, at least, that folding changes: pages in Traditional


@dataclass(frozen=True)
class Pages:
    """What a model's sampled text is written in."""

    language: str | None  # "Chinese", "Japanese", "English" or None (`language_of`)
    traditional: bool  # Chinese in Traditional characters, a share of them at least


_pages: dict[tuple[str, str], Pages] = {}
_lock = threading.Lock()


def language_of(text: str) -> str | None:
    """ "Chinese", "Japanese", "English", or None (another language, or too little text to tell)."""
    if not LETTER.search(text):
        return None
    if mostly_cjk(text):
        return "Japanese" if 10 * len(KANA.findall(text)) > len(IS_CJK.findall(text)) else "Chinese"
    return "English" if reads_as_english(text) else None


def mainland_wording(question: str) -> str | None:
    """A question written in Traditional Chinese, in the characters and words of mainland China (OpenCC's
    tw2sp: 軟體 → 软件, 記憶體 → 内存), or None: pages in Simplified Chinese use those words, which
    folding characters alone (`terms.simplified`) does not reach. None for any other question."""
    folded = simplified(question)
    if folded == question:
        return None
    wording = convert("tw2sp", question)
    return wording if wording != folded else None


def taiwan_wording(question: str, model: LoadedModel) -> str | None:
    """A question in Simplified Chinese, asked of pages in Traditional Chinese, in Taiwan's words (OpenCC's
    s2twp: 软件 → 軟體, 内存 → 記憶體) folded back into simplified characters as BM25 reads the pages
    (软体), or None: folding characters alone does not reach those words. None for any other question."""
    if IS_CJK.search(question) is None or KANA.search(question) or simplified(question) != question:
        return None  # no Chinese, Japanese, or Traditional (`mainland_wording`'s)
    if not model_pages(model).traditional:
        return None
    wording = simplified(convert("s2twp", question))
    return wording if wording != question else None


def glosses_of(text: str, model: LoadedModel) -> str | None:
    """A question in Chinese, asked of a model with chunks written in words (English pages among Chinese
    ones, or all of them), in the dictionary's English (`dictionary.english_glosses`); else None."""
    if language_of(text) != "Chinese" or not model.lexical.in_words.any():
        return None
    return english_glosses(text)


def is_cjk(language: str | None) -> bool:
    return language in ("Chinese", "Japanese")


def main_language(model: LoadedModel) -> str | None:
    """The language most of the model's text is in."""
    return model_pages(model).language


def model_pages(model: LoadedModel) -> Pages:
    """What the model's text is written in, from a sample of its chunks (read once per version: a version
    never changes)."""
    key = (model.manifest.model_name, model.manifest.version_id)
    with _lock:
        if key in _pages:
            return _pages[key]
    count = len(model.chunks)
    sampled = min(count, SAMPLE_CHUNKS)
    picked = [k * count // sampled for k in range(sampled)]  # evenly spaced: all of a small model's
    sample = "\n".join(model.chunks[i]["text"] for i in picked)  # parses only the sampled chunks
    han = KANA.sub("", "".join(CJK_RUN.findall(sample)))  # a Japanese page's kana would stop the folding
    folded = convert("t2s", han) if han else ""  # OpenCC maps character for character here, or nearly
    changed = sum(a != b for a, b in zip(han, folded, strict=False))
    found = Pages(language_of(sample), changed >= TRADITIONAL_SHARE * len(han) > 0)
    with _lock:
        _pages[key] = found
        while len(_pages) > REMEMBERED:
            _pages.pop(next(iter(_pages)))
    return found


def translation_target(question: str, documents: str | None) -> str | None:
    """The documents' main language when the question is written in another script, else None."""
    if documents is None or not LETTER.search(question):
        return None
    return documents if is_cjk(language_of(question)) != is_cjk(documents) else None
