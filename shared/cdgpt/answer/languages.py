"""Which language a question and a model's documents are in, told apart by script (no language model).

Only what cross-lingual search needs: whether a question is written in another script than the
documents (Chinese or Japanese against English, or the reverse), and what to call the documents'
main language when asking a language model to translate into it.
"""

from __future__ import annotations

import re
import threading

from cdgpt.answer.retrieval import LoadedModel
from cdgpt.index.terms import CJK, IS_CJK, KANA, LETTER, convert, mostly_cjk, reads_as_english, simplified

CJK_RUN = re.compile(f"[{CJK}]+")
SAMPLE_CHUNKS = 200  # chunks read, evenly spaced, to tell a model's main language
REMEMBERED = 64  # model versions whose main language is kept


_main: dict[tuple[str, str], str | None] = {}
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


def is_cjk(language: str | None) -> bool:
    return language in ("Chinese", "Japanese")


def main_language(model: LoadedModel) -> str | None:
    """The language most of the model's text is in (read once per version: a version never changes)."""
    key = (model.manifest.model_name, model.manifest.version_id)
    with _lock:
        if key in _main:
            return _main[key]
    step = max(1, len(model.chunks) // SAMPLE_CHUNKS)
    sample = range(0, len(model.chunks), step)[:SAMPLE_CHUNKS]  # parses only the sampled chunks
    found = language_of("\n".join(model.chunks[i]["text"] for i in sample))
    with _lock:
        _main[key] = found
        while len(_main) > REMEMBERED:
            _main.pop(next(iter(_main)))
    return found


def translation_target(question: str, documents: str | None) -> str | None:
    """The documents' main language when the question is written in another script, else None."""
    if documents is None or not LETTER.search(question):
        return None
    return documents if is_cjk(language_of(question)) != is_cjk(documents) else None
