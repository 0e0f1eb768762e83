"""Relevance: whether a model's documents cover a question at all ("not covered" otherwise).

The question's best cosine with any chunk must reach its embedder's floor. With the local embedder the
question must also find its own terms in the model: a share of its evidence (its terms without
question phrases, weighted by IDF, a term the model lacks weighing most), which keeps out an
off-topic question that happens to lie near a chunk, unless its cosine is so high that no off-topic
question reached it (a paraphrase whose words the documents do not use: "斜着显示" for rotated text; a
Chinese question's bigrams across word boundaries, "着显", are terms no model holds). A question the
model holds less than half of needs a higher cosine: "企业微信怎么创建一个外部群？" holds 创建 and 外部
but not 微信, and "What is the dress code?" holds "code" but not "dress". A name the model
lacks (Homebrew, XLOOKUP: `terms.name_terms`) is not paraphrased: only a higher cosine still covers such
a question (a name can be paraphrased too: BitTorrent as peer-to-peer), and only the sure cosine one
whose name none of the first chunks ranked holds (a large manual names GitHub, but not on the pages a
question about GitHub Actions finds). A keyword search ("laptop", "sick pay", "年假") scores a low cosine
with any passage; it is covered when the headings of the first chunks ranked hold each of its keywords
("Looking after your laptop"). Greetings, thanks, words addressed to the bot ("good morning", "your
name") and words pointing at what was said ("what else") are no keyword search, nor are single
characters or terms in half the chunks (a manual's "chapter"). Under the floor, a question whose terms
one of the first chunks holds most of is covered (`held_together`; the lower the cosine, the more): a
short entry of a long list ("Dental cover" in a benefits guide) is far from its questions in the
embedder's space. In Chinese, the least share (MIN_KNOWN) counts the question's words: a bigram across a
word's edge that the model lacks (`known_words`) is missing from every small company's pages, not only
from this one's.
The values were set on the development halves of the evaluation sets and their off-topic questions
(benchmarks/eval/README.md).

Any other embedder (an OpenAI-compatible server's) has a scale of its own, so its floor also rises to
the model's background: the median best cosine of questions no document answers, plus BACKGROUND_SPREADS
times their spread to the 90th percentile (`index/background.py`), for the question's script.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from cdgpt.index.lexical import LexicalIndex
from cdgpt.index.terms import IS_CJK, WORD_OF_LETTERS, simplified, tokenize
from cdgpt.models.registry import Background

MIN_SIMILARITY: dict[str, float] = {"local": 0.26, "openai": 0.2}  # the best cosine below which nothing is relevant
MIN_KNOWN = 0.2  # share of the question's evidence the model holds (local embedder)
HALF_KNOWN, HALF_KNOWN_SIMILARITY = 0.5, 0.32  # local embedder: a question the model holds less of needs this cosine
SURE_SIMILARITY = 0.45  # local embedder: a best cosine that covers the question whatever its terms
# local embedder: below the floor, a question whose evidence one first chunk holds a share of, and the model
# HELD_KNOWN of (`held_together`): (the cosine it needs, the share), the lower the cosine the more of it
HELD: tuple[tuple[float, float], ...] = ((0.15, 0.75), (0.22, 0.5))
HELD_KNOWN = 0.9
HELD_TERMS = 2  # ... of a question of this many terms or more ("How are you today?" is one: "today")
# local embedder: a code (letters, then digits: E1003, P3; not 25th or 1tb) at most CODE_CHUNKS chunks hold, the one
# ranked first among them, covers its question from a cosine of CODE_SIMILARITY (an error code alone lies far from
# its table's row: 0.256; "Is a 4ghz processor good for gaming?" reached 0.24 and "...100mb broadband..." 0.21)
CODE = re.compile(r"[a-z]+\d[a-z\d]*")
CODE_CHUNKS, CODE_SIMILARITY = 3, 0.25
NAME_SIMILARITY = 0.55  # local embedder: the best cosine that covers a question naming what the model lacks
NAME_CHARS = 4  # in a name's term of this many characters or more (ACL, KB, Go: acronyms and units, spelt out)
NAMED_IN = 4  # a name the question uses (a follow-up's term) must be in one of this many chunks ranked first
KEYWORDS = 2  # a question of at most this many keywords is a keyword search (a Han bigram is half of one)
# a search with one of these words is small talk, not a keyword search: greetings, thanks, words addressed to the bot
CHAT_WORDS = frozenset(
    "hi hello hey ok okay yes yeah yep no nope thanks thank thx please pls bye goodbye cheers sorry lol hmm "  # noqa: SIM905
    "cool great nice good morning afternoon evening night you your yours yourself me u ur".split()
)
THANKS = frozenset("hi hello hey thanks thank thx bye goodbye cheers ok okay cool great nice good".split())  # noqa: SIM905
CHAT = re.compile(r"你好|您好|谢谢|感谢|好的|再见|早上好|晚上好|晚安|哈哈|嗯|你|您")
POINTING = re.compile(r"\b(?:[Tt]his|[Tt]hat|[Ee]lse|[Ii]t)\b")  # "how does this work", "what else"; IT is a department
BACKGROUND_SPREADS = 1.5  # another embedder: the floor is at least the background's median + 1.5 x (p90 - median)


@dataclass(frozen=True)
class Evidence:
    similarity: float  # the best cosine of the question and any chunk
    known: float  # share of the question's IDF-weighted terms that the model holds, 0..1
    lacks_name: bool = False  # the question names something (`terms.name_terms`, NAME_CHARS) the model lacks
    name_not_found: bool = False  # ... that none of the NAMED_IN chunks ranked first holds (or the model lacks)
    background: Background | None = None  # the model's, in the question's script (older models have none)
    headed: bool = False  # a keyword search whose every keyword heads one of the NAMED_IN chunks ranked first
    coded: bool = False  # the question names a code (CODE) that the chunk ranked first holds, and few others
    held: float = 0.0  # the largest share of the question's evidence one of the NAMED_IN chunks ranked first holds
    # (0 for a question of fewer than HELD_TERMS terms)
    # the share `known` when the question's Han bigrams across a word's edge that the model lacks are left out
    # (`dictionary.straddling_bigrams`: 导审 in 领导审批); None for a question without them
    known_words: float | None = None


def covers(evidence: Evidence, provider: str, min_score: float | None = None) -> bool:
    """min_score (CDGPT_MIN_SCORE), when set, replaces the cosine floor (for keyword searches too)."""
    if provider == "local" and min_score is None and (evidence.headed or by_code(evidence)):
        return True
    if evidence.similarity < (min_score if min_score is not None else floor(evidence, provider)):
        return min_score is None and provider == "local" and held_together(evidence)
    if provider != "local":
        return True
    if evidence.lacks_name:
        return evidence.similarity >= NAME_SIMILARITY
    if evidence.similarity >= SURE_SIMILARITY:
        return True
    if evidence.known < HALF_KNOWN and evidence.similarity < HALF_KNOWN_SIMILARITY:
        return False
    known_words = evidence.known if evidence.known_words is None else evidence.known_words
    return known_words >= MIN_KNOWN and not evidence.name_not_found


def by_code(evidence: Evidence) -> bool:
    """A question naming a code few chunks hold, the first ranked among them ("E1003", "打卡一直报E2005是啥意思"),
    is covered from CODE_SIMILARITY, unless it names something the model or its first chunks lack."""
    return (
        evidence.coded
        and evidence.similarity >= CODE_SIMILARITY
        and not evidence.lacks_name
        and not evidence.name_not_found
    )


def held_together(evidence: Evidence) -> bool:
    """Below the floor, a question one of the first chunks holds a share of the evidence of (half from a
    cosine of 0.22, three quarters from 0.15: `HELD`), and the model all but a little, is covered: a short
    entry of a long list ("Dental cover" in a benefits guide) lies far from its questions in the local
    embedder's space, not in the index."""
    return (
        any(evidence.similarity >= similarity and evidence.held >= share for similarity, share in HELD)
        and evidence.known >= HELD_KNOWN
        and not evidence.lacks_name
        and not evidence.name_not_found
    )


def floor(evidence: Evidence, provider: str) -> float:
    """The best cosine a question needs: the provider's floor, and for an embedder the values were not
    set on (not the local one), at least BACKGROUND_SPREADS spreads above the model's background."""
    background = evidence.background
    if provider == "local" or background is None:
        return MIN_SIMILARITY[provider]
    return max(MIN_SIMILARITY[provider], background.median + BACKGROUND_SPREADS * (background.p90 - background.median))


def follows_up(lexical: LexicalIndex, question: str, passages: list[int]) -> bool:
    """Whether a follow-up, searched together with the question before it, is about what was found.

    Its own terms must make MIN_KNOWN of its evidence in the model, and one of them must be in the
    chunks ranked first (ids: the NAMED_IN first, whatever k), unless it has a single term or none
    ("How fast?", "下午呢？"): such a question cannot stand alone at all. Otherwise any short off-topic
    question ("And is it going to rain tomorrow?") asked after an answered one would count as covered.
    """
    if small_talk(question):  # "thanks!", "好的，谢谢": nothing to look up, whatever was asked before
        return False
    terms = list(dict.fromkeys(tokenize(question, question=True)))
    if len(terms) <= 1:
        return True
    return lexical.coverage(terms) >= MIN_KNOWN and lexical.holds_any(terms, passages)


def small_talk(question: str) -> bool:
    """Only thanks, a greeting or a farewell, and words addressed to the bot ("ok, thank you", "谢谢"), not a
    bare word a follow-up may be ("Afternoon?", "yes, and weekends?")."""
    words = WORD_OF_LETTERS.findall(question.lower())
    chinese = simplified(question)
    said = bool(THANKS.intersection(words)) or bool(CHAT.search(chinese))
    return said and CHAT_WORDS.issuperset(words) and not IS_CJK.search(CHAT.sub("", chinese))


def keywords(lexical: LexicalIndex, question: str) -> frozenset[str]:
    """The question's keywords when it is a keyword search (KEYWORDS terms or fewer, not small talk),
    else none. Numbers, single characters and terms in half the chunks or more are no keywords."""
    words = WORD_OF_LETTERS.findall(question.lower())
    if CHAT.search(simplified(question)) or POINTING.search(question) or CHAT_WORDS.intersection(words):
        return frozenset()
    terms = {term for term in tokenize(question, question=True) if len(term) > 1 and not term.isdigit()}
    found = frozenset(term for term in terms if lexical.idf(term) > math.log(2))  # idf: log 2 at half the chunks
    size = sum(0.5 if IS_CJK.match(term) else 1 for term in found)  # 远程桌面: three bigrams, two words
    return found if size <= KEYWORDS else frozenset()
