"""Retrieval: load a trained model (cached per process, keyed by its manifest), rank its chunks and documents.

`retrieve` is what chat answers from and what `cdgpt eval` measures: one ranking, one relevance decision.
A `Query` is the question and what else the conversation adds to its ranking (`answer/conversation.py`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cdgpt.answer.dictionary import chinese_names, straddling_bigrams
from cdgpt.answer.relevance import (
    CODE,
    CODE_CHUNKS,
    HELD_TERMS,
    NAME_CHARS,
    NAMED_IN,
    Evidence,
    covers,
    follows_up,
    keywords,
)
from cdgpt.answer.reranking import RERANKED, reranked
from cdgpt.errors import ModelDamaged, ModelMismatch
from cdgpt.index.background import probe_language
from cdgpt.index.docstore import Docstore
from cdgpt.index.embeddings import Embedder, make_embedder
from cdgpt.index.lexical import LexicalIndex
from cdgpt.index.terms import name_terms, tokenize
from cdgpt.ingest.chunking import embedded_text
from cdgpt.models.artifacts import Verification, load_artifacts
from cdgpt.models.registry import Manifest, check_model_name, manifest_key, read_manifest
from cdgpt.models.store import ArtifactStore
from cdgpt.settings import Settings

if TYPE_CHECKING:
    import faiss

    from cdgpt.index.vectors import VectorIndex

CACHED_MODELS = 8
CANDIDATES = 64  # under an approximate index: the nearest chunks, and the best by BM25, whose cosine is computed
# BM25's weight in the fused score by embedding provider, unless CDGPT_LEXICAL_WEIGHT sets it: set for the
# local embedder on the evaluation sets' development halves (benchmarks/eval/README.md), not for OpenAI's
LEXICAL_WEIGHT: dict[str, float] = {"local": 0.4, "openai": 0.6}


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    etag: str
    vector_index: VectorIndex  # nearest chunks (`search`), any chunk's cosine (`cosines`), all of them if exact
    lexical: LexicalIndex
    chunks: Docstore  # chunks[i] is chunk i's record; chunks.document[i] its document's number in chunks.sources
    embedder: Embedder
    documents: int  # distinct sources among the chunks
    verification: Verification  # the larger files' checksums, checked in the background

    @property
    def index(self) -> faiss.Index:
        """The Faiss index itself (search, reconstruct_batch)."""
        return self.vector_index.index


@dataclass(frozen=True)
class Hit:
    chunk: dict[str, Any]
    score: float  # fused, 0..1
    similarity: float  # cosine of the chunk and the question
    id: int  # the chunk's row in the model's indexes


@dataclass(frozen=True)
class Query:
    """What retrieval searches with: the question, and what the conversation adds to it.

    The question and its translations are alternatives, each scored over all chunks as a question
    alone would be: a chunk keeps its best score of them, and the documents cover the query when they
    cover one of them. A context (the question before a follow-up) is searched together with the
    question; the follow-up must then also find its own terms (`relevance.follows_up`). A Chinese
    question's English glosses (`dictionary.py`) are searched by BM25 in the chunks written in words, as
    another lexical part of the question's own score: they rank, and are no evidence of coverage.
    """

    question: str
    translations: tuple[str, ...] = ()  # the question in the documents' main language
    context: str | None = None
    glosses: str | None = None  # a Chinese question's English words, for BM25 in the chunks written in words

    @property
    def texts(self) -> list[str]:
        """The alternatives searched, the question (with its context) first."""
        return [f"{self.context}\n{self.question}" if self.context else self.question, *self.translations]


@dataclass(frozen=True)
class Results:
    chunks: list[Hit]  # the best chunks, for an answer's context
    documents: list[Hit]  # one per distinct document (its best chunk), best first
    evidence: Evidence  # the question's (with its context, if any)
    covered: bool = True  # False: the documents do not cover the question, and both lists are empty
    more_evidence: tuple[Evidence, ...] = ()  # the translations', in order
    leading: tuple[int, ...] = ()  # the NAMED_IN chunks ranked first (ids), whatever k: relevance looks in them


LOAD_ATTEMPTS = 3  # versions a load tries when the one it read is replaced and collected under it
_cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _single_threaded_queries() -> None:
    """BLAS and OpenMP threads cost more than they save on one query vector (~8 ms on 2 cores)."""
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    faiss.omp_set_num_threads(1)


def _embedder_for(manifest: Manifest, settings: Settings) -> Embedder:
    info = manifest.embedding
    if settings.embeddings and settings.embeddings != info.provider:
        raise ModelMismatch(
            f"model {manifest.model_name!r} was trained with {info.provider} embeddings ({info.model}), "
            f"but CDGPT_EMBEDDINGS={settings.embeddings}; retrain it or change the setting"
        )
    embedder = make_embedder(settings, info.provider, info.model, info.dim)
    if embedder.model != info.model or embedder.dim != info.dim:
        raise ModelMismatch(f"model {manifest.model_name!r} needs embedder {info.model} ({info.dim} dimensions)")
    return embedder


def load_model(name: str, store: ArtifactStore, settings: Settings) -> LoadedModel:
    """The model's current version; reloaded only when its manifest has changed."""
    key = (store.location, check_model_name(name))  # validated first: the name is part of a dict key
    with _lock:
        cached = _cache.get(key)
    if cached and not store.changed(manifest_key(name), cached.etag):
        if cached.verification.problem:
            with _lock:
                _cache.pop(key, None)
            cached.verification.check()
        with _lock:
            if key in _cache:  # another thread may have evicted it meanwhile
                _cache.move_to_end(key)
        return cached
    for attempt in range(LOAD_ATTEMPTS):
        manifest, etag = read_manifest(store, name)
        _single_threaded_queries()
        embedder = _embedder_for(manifest, settings)
        try:
            artifacts = load_artifacts(store, manifest, settings.cache_dir)
            break
        except ModelDamaged:  # or its files went with two publishes while it loaded: load the new version
            if attempt == LOAD_ATTEMPTS - 1 or not store.changed(manifest_key(name), etag):
                raise
    model = LoadedModel(
        manifest=manifest,
        etag=etag,
        vector_index=artifacts.index,
        lexical=artifacts.lexical,
        chunks=artifacts.chunks,
        embedder=embedder,
        documents=len(artifacts.chunks.sources),
        verification=artifacts.verification,
    )
    with _lock:
        _cache[key] = model
        _cache.move_to_end(key)
        while len(_cache) > CACHED_MODELS:
            _cache.popitem(last=False)
    return model


def retrieve(model: LoadedModel, query: str | Query, k: int, settings: Settings) -> Results:
    """The k best chunks and documents that chat answers from, or none when they do not cover the question.
    With a reranking server, the documents are those it puts first, each with its best chunk."""
    query = Query(query) if isinstance(query, str) else query
    reranking = settings.rerank_url is not None
    results = search(model, query, max(k, RERANKED) if reranking else k, lexical_weight(model, settings))
    evidence = (results.evidence, *results.more_evidence)
    covered = any(covers(e, model.embedder.provider, settings.min_score) for e in evidence)
    if not covered or (
        query.context is not None and not follows_up(model.lexical, query.question, list(results.leading))
    ):
        return Results([], [], results.evidence, False, results.more_evidence, results.leading)
    if not reranking:
        return results
    passages = [
        embedded_text(hit.chunk["title"], hit.chunk["headings"], hit.chunk["text"]) for hit in results.documents
    ]
    documents = reranked(query.texts[0], passages, results.documents, settings)[:k]
    return replace(results, chunks=documents, documents=documents)


def headed_search(model: LoadedModel, question: str, settings: Settings) -> bool:
    """Whether the question alone is a keyword search that the headings of its first chunks hold, and
    so covered (`relevance.keywords`): "laptop" asked after a question about expenses is a new subject."""
    if not keywords(model.lexical, question):
        return False
    evidence = search(model, question, 1, lexical_weight(model, settings)).evidence
    return evidence.headed and covers(evidence, model.embedder.provider, settings.min_score)


def lexical_weight(model: LoadedModel, settings: Settings) -> float:
    if settings.lexical_weight is not None:
        return settings.lexical_weight
    return LEXICAL_WEIGHT[model.embedder.provider]


def search(model: LoadedModel, query: str | Query, k: int, lexical_weight: float) -> Results:
    """Rank every chunk by a weighted sum of its BM25 score (scaled by the best) and its cosine (scaled 0..1).

    Both are scaled over all chunks, never over a candidate pool, so a chunk's score and the order
    of the first documents do not depend on k. Documents are ranked by their best chunk. A query
    with translations keeps each chunk's best score of its texts (`Query`).
    """
    query = Query(query) if isinstance(query, str) else query
    texts = query.texts
    nothing = Evidence(0.0, 0.0)
    if not len(model.chunks):
        return Results([], [], nothing, more_evidence=(nothing,) * (len(texts) - 1))
    vectors = model.embedder.embed(texts)
    scores = [
        _fuse(model, text, vector, lexical_weight, query.glosses if n == 0 else None)
        for n, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]
    fused = np.max([f for f, _, _ in scores], axis=0) if len(scores) > 1 else scores[0][0]
    cosine = np.max([c for _, c, _ in scores], axis=0) if len(scores) > 1 else scores[0][1]  # ties: the closer vector
    pools = [p for _, _, p in scores if p is not None]
    pool = np.unique(np.concatenate(pools)) if len(pools) == len(scores) else None
    candidates = max(64, 8 * k)
    first: list[int] = []  # the chunks ranked first, which must hold the question's names
    while True:
        ranked = _best(fused, cosine, candidates, pool if candidates <= CANDIDATES else None)
        first = first or ranked[:NAMED_IN].tolist()
        results = _collect(model, ranked, fused, cosine, k)
        if len(results[1]) >= min(k, model.documents) or candidates >= len(fused):
            break
        candidates *= 4  # one long document can fill the candidates: look further for distinct ones
    evidence = [_evidence(model, text, cosine, first) for text, (_, cosine, _) in zip(texts, scores, strict=True)]
    evidence[0] = replace(evidence[0], headed=_headed(model, query.question, first))
    return Results(*results, evidence[0], more_evidence=tuple(evidence[1:]), leading=tuple(first))


def _evidence(model: LoadedModel, text: str, cosine: np.ndarray, first: list[int]) -> Evidence:
    """The text's best cosine, the share of its terms the model holds, whether it names something that
    the model or the first chunks ranked (ids) lack, and the model's background in the text's script.
    A Chinese name (`dictionary.chinese_names`) none of whose bigrams the model holds is lacking, as a long
    Latin name is."""
    lexical = model.lexical
    terms = tokenize(text, question=True)
    known, known_words = lexical.coverage(terms), None
    straddling = straddling_bigrams(text)
    words = [t for t in terms if t not in straddling or t in lexical.terms]
    if words and len(words) < len(terms):  # bigrams across a word's edge that the model lacks are no evidence
        known_words = lexical.coverage(words)
    names = name_terms(text)
    long_names = [name for name in names if len(name) >= NAME_CHARS]
    background = model.manifest.background.get(probe_language(text))
    lacks_name = _lacks_chinese_name(lexical, text) or lexical.lacks_any(long_names)
    held = lexical.best_share(terms, first) if len(set(terms)) >= HELD_TERMS else 0.0  # one term: a keyword search
    name_not_found = lexical.lacks_any(names, first)
    codes = [t for t in dict.fromkeys(terms) if CODE.fullmatch(t) and 0 < lexical.chunks_with(t) <= CODE_CHUNKS]
    coded = bool(codes) and lexical.holds_any(codes, first[:1])
    similarity = float(cosine.max())
    return Evidence(
        similarity, known, lacks_name, name_not_found, background, held=held, known_words=known_words, coded=coded
    )


def _lacks_chinese_name(lexical: LexicalIndex, text: str) -> bool:
    """Whether the text uses a Chinese name none of whose bigrams the index holds."""

    def lacking(name: str) -> bool:
        return all(lexical.lacks_any([bigram]) for bigram in tokenize(name))

    return any(lacking(name) for name in chinese_names(text))


def _headed(model: LoadedModel, question: str, first: list[int]) -> bool:
    """Whether the question (without its context) is a keyword search whose every keyword is in the title
    or headings of one of the chunks ranked first (ids), read as a question's terms are."""
    wanted = keywords(model.lexical, question)
    if not wanted:
        return False
    heads: set[str] = set()
    for i in first:
        chunk = model.chunks[i]
        heads.update(tokenize(" ".join((chunk["title"], *chunk["headings"])), question=True))
    return wanted <= heads


def _fuse(
    model: LoadedModel, text: str, vector: np.ndarray, lexical_weight: float, glosses: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Every chunk's fused score for one text (and its glosses), its cosine, and (under an approximate
    index) the pool of candidates whose cosine was computed: the best CANDIDATES chunks by fused score
    are among them. With glosses, a chunk's lexical part is the better of the text's and the glosses'
    BM25, each scaled by its best: as if each were fused with the text's vector, and the better kept."""
    lexical = [model.lexical.scores(text)]
    if glosses:
        lexical.append(model.lexical.scores_in_words(glosses))
    cosine, pool = _cosines(model, vector, lexical)
    low, high = float(cosine.min()), float(cosine.max())
    vector_part = (cosine - low) / (high - low) if high > low else np.ones_like(cosine)
    lexical_part = np.max([_scaled_by_best(scores) for scores in lexical], axis=0)
    return lexical_weight * lexical_part + (1 - lexical_weight) * vector_part, cosine, pool


def _scaled_by_best(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max())
    return scores / top if top > 0 else scores


def _cosines(model: LoadedModel, query: np.ndarray, lexical: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """Every chunk's cosine. An exact index computes them all (one matrix-vector product). An approximate
    one computes the candidates' (the CANDIDATES nearest and the CANDIDATES best by each BM25, returned
    as the pool), and gives every other chunk the query's lowest cosine: its vector part is 0, its lexical
    part still counts, and at least CANDIDATES chunks of the pool score as much (their BM25 is no lower)."""
    vectors = model.vector_index
    every = vectors.all_cosines(query)
    if every is not None:
        return every, None
    near, near_cosines = vectors.search(query, CANDIDATES)
    matched = [np.flatnonzero(scores) for scores in lexical]  # BM25 is sparse: rank only the chunks it scored
    best = [found[_top(scores[found], CANDIDATES)] for scores, found in zip(lexical, matched, strict=True)]
    others = np.setdiff1d(np.concatenate(best), near)
    other_cosines = vectors.cosines(query, others)
    lowest = min(vectors.lowest_cosine(query), *(float(c.min()) for c in (near_cosines, other_cosines) if len(c)))
    cosine = np.full(model.lexical.n_docs, lowest, dtype=np.float32)
    cosine[near] = near_cosines
    cosine[others] = other_cosines
    return cosine, np.concatenate([near, others])


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(scores))
    return np.argpartition(-scores, n - 1)[:n] if n else np.zeros(0, dtype=np.int64)


def _best(fused: np.ndarray, cosine: np.ndarray, n: int, pool: np.ndarray | None = None) -> np.ndarray:
    """The n best chunk ids, best first: by fused score, then the closer vector, then the lower id.
    Only the pool's chunks are ranked when given (it holds the n best)."""
    ids = np.arange(len(fused)) if pool is None else pool
    n = min(n, len(ids))
    if n < len(ids):
        ids = ids[np.argpartition(-fused[ids], n - 1)[:n]]
    return ids[np.lexsort((ids, -cosine[ids], -fused[ids]))]


def _collect(
    model: LoadedModel, ranked: np.ndarray, fused: np.ndarray, cosine: np.ndarray, k: int
) -> tuple[list[Hit], list[Hit]]:
    chunks: list[Hit] = []
    documents: list[Hit] = []
    seen: set[str] = set()
    for i in ranked.tolist():
        chunk = model.chunks[i]
        new_document = len(documents) < k and chunk["source"] not in seen
        if len(chunks) >= k and not new_document:
            if len(documents) >= k:
                break
            continue
        hit = Hit(chunk, float(fused[i]), float(cosine[i]), i)
        if len(chunks) < k:
            chunks.append(hit)
        if new_document:
            documents.append(hit)
            seen.add(chunk["source"])
    return chunks, documents
