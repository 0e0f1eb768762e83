"""Lexical retrieval: BM25 over stemmed words (space-separated languages) and character bigrams (CJK).

The index is a term-major sparse matrix of precomputed BM25 weights, so a query is a few array
slices and one `bincount`. It is stored as a single `.npz` (plain arrays, loaded without pickle).
scipy-based BM25 libraries would add ~100 MB to a Lambda package already near the 250 MB limit.
The terms are `terms.py`'s.
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Buffer, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cdgpt.index.npz import read_npz
from cdgpt.index.terms import IS_CJK, Counted, Vocabulary, simplified, tokenize

K1 = 1.2
B = 0.75

COUNTED = ("terms", "counts", "lengths", "distinct")  # a builder's arrays, each int32


class LexicalBuilder:
    """Texts added batch by batch; each text's term counts go into flat integer arrays at once, so a
    large corpus costs 12 bytes per (text, term) pair rather than a Counter per text."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # term -> number, in order of first use
        self._terms = array("i")  # per (text, term) pair, text by text
        self._counts = array("i")
        self._lengths = array("i")  # tokens per text
        self._distinct = array("i")  # distinct terms per text

    def add(self, texts: Iterable[str]) -> None:
        vocabulary = Vocabulary()
        self.add_counted(vocabulary.count(text) for text in texts)

    def add_counted(self, texts: Iterable[Counted]) -> None:
        """Texts by their `Counted` terms: the same as adding the texts themselves."""
        ids = self._ids
        for counted in texts:
            words = counted.vocabulary
            self._terms.extend([ids.setdefault(words[n], len(ids)) for n in counted.numbers])
            self._counts.extend(counted.counts)
            self._lengths.append(sum(counted.counts))
            self._distinct.append(len(counted.numbers))

    def counts_bytes(self) -> bytes:
        """The term counts added so far (a shard's), as an uncompressed `.npz`, for `extend`."""
        arrays = {name: np.frombuffer(getattr(self, f"_{name}"), dtype=np.int32) for name in COUNTED}
        arrays["vocab"] = np.frombuffer("\n".join(self._ids).encode(), dtype=np.uint8)  # in number order
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    def extend(self, data: Buffer, keep: np.ndarray | None = None) -> None:
        """Add the texts whose counts `counts_bytes` wrote (those `keep` marks, or all), after these: the
        same as adding the texts themselves, without tokenizing them again."""
        arrays = read_npz(data)
        vocab = arrays["vocab"].tobytes().decode().split("\n") if arrays["vocab"].size else []
        distinct = arrays["distinct"]
        kept = np.ones(len(distinct), dtype=bool) if keep is None else keep
        pairs = np.repeat(kept, distinct)
        terms = arrays["terms"][pairs]
        mapping = np.zeros(len(vocab), dtype=np.int32)
        for term in np.unique(terms):  # only the terms kept texts use join the vocabulary
            mapping[term] = self._ids.setdefault(vocab[term], len(self._ids))
        self._terms.frombytes(mapping[terms].tobytes())
        self._counts.frombytes(arrays["counts"][pairs].tobytes())
        self._lengths.frombytes(arrays["lengths"][kept].tobytes())
        self._distinct.frombytes(distinct[kept].tobytes())

    def finish(self) -> LexicalIndex:
        n_docs = len(self._lengths)
        lengths = np.frombuffer(self._lengths, dtype=np.int32).astype(np.float32)
        avg = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        terms_sorted = sorted(self._ids)
        rank = np.empty(len(self._ids), dtype=np.int64)  # first-use number -> place in sorted order
        rank[[self._ids[t] for t in terms_sorted]] = np.arange(len(terms_sorted))
        term_of = rank[np.frombuffer(self._terms, dtype=np.int32)] if len(self._terms) else np.zeros(0, np.int64)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int32), np.frombuffer(self._distinct, dtype=np.int32))
        order = np.argsort(term_of, kind="stable")  # by term; within a term, by document (added in order)
        doc_ids, freq = doc_of[order], np.frombuffer(self._counts, dtype=np.int32)[order].astype(np.float32)
        df = np.bincount(term_of, minlength=len(terms_sorted))
        indptr = np.zeros(len(terms_sorted) + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))[term_of[order]]
        length_norm = K1 * (1 - B + B * lengths[doc_ids] / avg)
        weights = (idf * freq * (K1 + 1) / (freq + length_norm)).astype(np.float32)
        return LexicalIndex(
            terms={term: i for i, term in enumerate(terms_sorted)},
            indptr=indptr,
            doc_ids=doc_ids.astype(np.int32),
            weights=weights,
            n_docs=n_docs,
        )


@dataclass(frozen=True)
class LexicalIndex:
    terms: dict[str, int]
    indptr: np.ndarray  # int64, per term: where its postings start in doc_ids/weights
    doc_ids: np.ndarray  # int32
    weights: np.ndarray  # float32, BM25 weight of the term in that document
    n_docs: int

    @classmethod
    def build(cls, texts: Iterable[str]) -> LexicalIndex:
        builder = LexicalBuilder()
        builder.add(texts)
        return builder.finish()

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query (zeros where no term matches)."""
        return self.scores_of(tokenize(query))

    def scores_of(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every document for these terms (a term given twice counts twice)."""
        ids, times = np.unique([self.terms[t] for t in terms if t in self.terms], return_counts=True)
        if not len(ids):
            return np.zeros(self.n_docs, dtype=np.float32)
        spans = [slice(self.indptr[i], self.indptr[i + 1]) for i in ids]  # each term's postings read once
        docs = np.concatenate([self.doc_ids[s] for s in spans])
        weights = np.concatenate([self.weights[s] * n for s, n in zip(spans, times, strict=True)])
        return np.bincount(docs, weights=weights, minlength=self.n_docs).astype(np.float32)

    def coverage(self, terms: list[str]) -> float:
        """The share of the terms' evidence (each distinct term weighted by its IDF) that the index holds.

        A term the index lacks weighs as much as the rarest term could: it is evidence that is missing,
        unless the index holds no term of its script at all (Chinese bigrams against English documents):
        such a term could never be found, so it is left out, and terms that are all such give 1.
        """
        terms = list(dict.fromkeys(terms))
        if not terms:
            return 0.0
        known = sum(self.idf(term) for term in terms if term in self.terms)
        missing = sum(self.idf(term) for term in terms if term not in self.terms and self._holds_script_of(term))
        return known / (known + missing) if known or missing else 1.0

    def lacks_any(self, terms: list[str], docs: list[int] | None = None) -> bool:
        """Whether a term is missing that the index could hold (one of a script it holds): missing from
        the index, or with docs (ids) from all of those documents."""
        return any(
            self._holds_script_of(term)
            and (term not in self.terms or (docs is not None and not self.holds_any([term], docs)))
            for term in terms
        )

    def _holds_script_of(self, term: str) -> bool:
        return self._holds_cjk if IS_CJK.match(term) else self._holds_words

    @cached_property
    def _holds_cjk(self) -> bool:
        """Whether any term is CJK bigrams (read once, and only when a question's CJK term is missing)."""
        return any(IS_CJK.match(term) for term in self.terms)

    @cached_property
    def _holds_words(self) -> bool:
        return not all(IS_CJK.match(term) for term in self.terms)

    @cached_property
    def in_words(self) -> np.ndarray:
        """Whether each chunk is written in words: fewer than half of its distinct terms are CJK bigrams (read
        once per loaded index, when a Chinese question's glosses are searched: `scores_in_words`); a mask."""
        count = len(self.terms)
        is_cjk = np.zeros(count, dtype=bool)  # by term number
        is_cjk[np.fromiter(self.terms.values(), dtype=np.int64, count=count)] = np.fromiter(
            (IS_CJK.match(term) is not None for term in self.terms), dtype=bool, count=count
        )
        postings = np.repeat(is_cjk, np.diff(self.indptr))
        cjk = np.bincount(self.doc_ids, weights=postings, minlength=self.n_docs)
        return 2 * cjk < np.bincount(self.doc_ids, minlength=self.n_docs)

    def scores_in_words(self, query: str) -> np.ndarray:
        """BM25 score of every chunk written in words (`in_words`) for the query; zeros for the others."""
        return np.where(self.in_words, self.scores(query), np.float32(0))

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a term; a term the index lacks weighs as the rarest could."""
        df = self.chunks_with(term)
        return float(np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5)))

    def chunks_with(self, term: str) -> int:
        """How many chunks hold the term (its document frequency)."""
        i = self.terms.get(term)
        return 0 if i is None else int(self.indptr[i + 1] - self.indptr[i])

    def best_share(self, terms: list[str], docs: list[int]) -> float:
        """The largest share of the terms' evidence (each distinct term weighted by its IDF, as `coverage`
        weighs it) that one of the documents (ids) holds."""
        weights = {term: self.idf(term) for term in dict.fromkeys(terms) if self._holds_script_of(term)}
        total = sum(weights.values())
        if not docs or total <= 0:
            return 0.0
        held = dict.fromkeys(docs, 0.0)
        for term, weight in weights.items():
            i = self.terms.get(term)
            if i is None:
                continue
            for doc in np.intersect1d(self.doc_ids[self.indptr[i] : self.indptr[i + 1]], docs).tolist():
                held[doc] += weight
        return max(held.values()) / total

    def holds_any(self, terms: list[str], docs: list[int]) -> bool:
        """Whether one of the documents (ids) holds one of the terms."""
        for term in terms:
            i = self.terms.get(term)
            if i is not None and np.isin(self.doc_ids[self.indptr[i] : self.indptr[i + 1]], docs).any():
                return True
        return False

    def to_bytes(self) -> bytes:
        vocab = "\n".join(sorted(self.terms, key=self.terms.__getitem__)).encode()
        buffer = io.BytesIO()
        np.savez(
            buffer,
            vocab=np.frombuffer(vocab, dtype=np.uint8),
            indptr=self.indptr,
            doc_ids=self.doc_ids,
            weights=self.weights,
            n_docs=np.array([self.n_docs], dtype=np.int64),
            folded=np.array([1], dtype=np.int8),  # its CJK terms are folded into simplified Chinese
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: Buffer) -> LexicalIndex:
        """The index in `data` (bytes, or a memory-mapped file: its arrays stay views of it, not copies;
        an index written before CJK terms were folded is folded on loading, into new arrays)."""
        arrays = read_npz(data)
        vocab = arrays["vocab"].tobytes().decode()
        if arrays["n_docs"].shape != (1,):
            raise ValueError("the lexical index has no document count")
        index = cls(
            terms={term: i for i, term in enumerate(vocab.split("\n"))} if vocab else {},
            indptr=arrays["indptr"],
            doc_ids=arrays["doc_ids"],
            weights=arrays["weights"],
            n_docs=int(arrays["n_docs"][0]),
        )
        index._check()
        return index if "folded" in arrays else index._folded()

    def _check(self) -> None:
        """ValueError unless the postings fit together: a query indexes them without bounds checks."""
        indptr, doc_ids, weights = self.indptr, self.doc_ids, self.weights
        sound = (
            indptr.dtype.kind == doc_ids.dtype.kind == "i"
            and weights.dtype.kind == "f"
            and len(indptr) == len(self.terms) + 1
            and indptr[0] == 0
            and indptr[-1] == len(doc_ids) == len(weights)
            and bool(np.all(indptr[1:] >= indptr[:-1]))
            and (not len(doc_ids) or (int(doc_ids.min()) >= 0 and int(doc_ids.max()) < self.n_docs))
        )
        if not sound:
            raise ValueError("the lexical index's postings do not fit together")

    def _folded(self) -> LexicalIndex:
        """An index written before traditional Chinese was folded (`terms.simplified`), with its terms
        folded as a question's now are: the postings of terms that fold alike are put together."""
        groups: dict[str, list[int]] = {}
        for term, i in self.terms.items():
            groups.setdefault(simplified(term) if IS_CJK.match(term) else term, []).append(i)
        if len(groups) == len(self.terms) and all(term in self.terms for term in groups):
            return self
        spans = [[slice(self.indptr[i], self.indptr[i + 1]) for i in ids] for ids in groups.values()]
        lengths = [sum(span.stop - span.start for span in group) for group in spans]
        order = [span for group in spans for span in group]
        return LexicalIndex(
            terms={term: n for n, term in enumerate(groups)},
            indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            doc_ids=np.concatenate([self.doc_ids[span] for span in order]) if order else self.doc_ids[:0],
            weights=np.concatenate([self.weights[span] for span in order]) if order else self.weights[:0],
            n_docs=self.n_docs,
        )
