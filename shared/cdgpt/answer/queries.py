"""What retrieval searches with, given the conversation so far.

Retrieval sees one question, but "And its opening hours?" means nothing without the question before
it. With a language model, one short call rewrites a follow-up into a standalone question, and a
question in another script than the documents' (Chinese against English documents, or the reverse)
is also searched in the documents' main language. Without one, the previous question of the
conversation is searched together with the question when the question looks like a follow-up, unless
it is a bare keyword search on a new subject ("laptop"; benchmarks/eval/README.md, "Follow-up
questions", says what else was tried).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from cdgpt.answer import languages, llm
from cdgpt.answer.conversations import recent_turns
from cdgpt.answer.retrieval import LoadedModel, Query, headed_search
from cdgpt.answer.spelling import mended
from cdgpt.errors import UpstreamError
from cdgpt.index.terms import QUESTION_SPLIT, STOP_WORDS, simplified
from cdgpt.settings import Settings

log = logging.getLogger(__name__)

FOLLOW_UP_TERMS = 2  # a question of at most this many content words (or four CJK characters) is a follow-up
REWRITE_HISTORY_CHARS = 2000  # the recent history a rewrite sees
REWRITE_MAX_TOKENS = 120
# Openings and words that lean on what was said before: "and ...?", "what about ...", "它", "那"; not "is there",
# "there are" (that something exists), 应该 ("should"), 因此, 如此 or 彼此 ("so", "each other").
_LEANING = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|same for|or|more)\b|\b(?!(?-i:IT)\b)(it|its|it's|that|this|"
    r"those|these|they|them|their|(?<!is )(?<!are )(?<!was )(?<!were )there(?!\s+(?:is|are|was|were|be)\b|'s)|"
    r"one|ones|same|else|other|above|former|latter)\b|^\s*(那|那么|还有|另外|如果)|(?<!应)该|(?<![因如彼])此|[它其这那]",
    re.IGNORECASE,
)
# A question mark, a question word, a phrase opening with a preposition ("on windows?", "示例呢", "默认值是多少"):
# asked about what was said before, where a bare keyword ("laptop", "年假") may be a new subject.
_ASKS = re.compile(
    r"[?？吗呢]\s*$|^\s*(how|what|which|when|where|why|who|whose|on|in|for|with|without|under|by)\b|"
    r"什么|怎么|怎样|如何|哪|多少|多久|为什么|是否",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone question that can be understood without the "
    "conversation: resolve pronouns and ellipsis from the earlier turns, keep the question's language, "
    "and add nothing else. If it is already standalone, repeat it unchanged. Reply with the question only."
)
TRANSLATE_PROMPT = "Translate the user's question into {language}. Reply with the translation only."


def previous_question(history: list[str]) -> str | None:
    """The conversation's last question from the user ("Human: ..."), if any."""
    for item in reversed(history):
        role, _, text = item.partition(": ")
        if role == "Human" and text.strip():
            return text.strip()
    return None


def looks_like_follow_up(question: str) -> bool:
    """Short, or leaning on what was said before (a pronoun, "and ...?", "那", "它")."""
    return leans_on_before(question) or _short(question)


def leans_on_before(question: str) -> bool:
    return _LEANING.search(simplified(question)) is not None


def _new_subject(question: str, model: LoadedModel, settings: Settings) -> bool:
    """A bare keyword search that the headings hold ("laptop" after a question about expenses), not one
    asked about the answer before ("examples?", "on windows", "And its price?")."""
    asks = _ASKS.search(simplified(question))
    return not leans_on_before(question) and not asks and headed_search(model, question, settings)


def _short(question: str) -> bool:
    words = [w for w in _WORD.findall(question.lower()) if w not in STOP_WORDS and not languages.CJK_RUN.match(w)]
    runs = languages.CJK_RUN.findall(simplified(question))
    han = sum(len(piece) for run in runs for piece in QUESTION_SPLIT.split(run))
    return len(words) + han / 2 <= FOLLOW_UP_TERMS


def search_query(question: str, history: list[str], model: LoadedModel, settings: Settings) -> Query:
    """The question as retrieval should see it: rewritten and translated (with a language model), or
    searched together with the previous question when it looks like a follow-up (without one, or when
    the rewriting fails); without one, a question in Traditional Chinese that stands alone is also
    searched in mainland words (`mainland_wording`), and one in Simplified Chinese asked of pages in
    Traditional Chinese in Taiwan's (`taiwan_wording`). A Chinese question not translated is also
    searched in its dictionary glosses in the chunks written in words (`glosses_of`). First, a word typed
    with two letters swapped or spelt the other side of the Atlantic is mended (`spelling.mended`)."""
    question = mended(model.lexical, question)
    previous = previous_question(history)
    if settings.answer_mode == "llm":
        rewritten = rewrite(question, history, settings) if previous else question
        if rewritten is not None:
            target = languages.translation_target(rewritten, languages.main_language(model))
            translation = translate(rewritten, target, settings) if target else None
            if translation and translation != rewritten:
                return Query(rewritten, translations=(translation,))
            return _glossed(Query(rewritten), model)
    if previous and looks_like_follow_up(question) and not _new_subject(question, model, settings):
        return _glossed(Query(question, context=previous), model)
    # searched beside the question: pages may use either wording
    wording = languages.mainland_wording(question) or languages.taiwan_wording(question, model)
    return _glossed(Query(question, translations=(wording,) if wording else ()), model)


def _glossed(query: Query, model: LoadedModel) -> Query:
    """The query with its English glosses, when it is a Chinese question untranslated (`languages.glosses_of`)."""
    return replace(query, glosses=languages.glosses_of(query.texts[0], model))


def rewrite(question: str, history: list[str], settings: Settings) -> str | None:
    """One short call: the question made standalone from the recent history; None when the call fails."""
    conversation = "\n".join(recent_turns(history, REWRITE_HISTORY_CHARS))
    return _short_call(REWRITE_PROMPT, f"Conversation:\n{conversation}\n\nLast question: {question}", settings)


def translate(question: str, language: str, settings: Settings) -> str | None:
    """One short call: the question in `language`; None when the call fails."""
    return _short_call(TRANSLATE_PROMPT.format(language=language), question, settings)


def _short_call(system: str, user: str, settings: Settings) -> str | None:
    """A short completion, or None when the model fails (the answer's own call reports failures)."""
    try:
        text = llm.complete(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            settings,
            max_tokens=REWRITE_MAX_TOKENS,
            short=True,
            temperature=0.0,
        )
    except UpstreamError as exc:
        log.warning("query rewriting skipped: %s", exc)
        return None
    return text.strip().strip('"“”').strip() or None
