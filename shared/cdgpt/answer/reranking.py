"""Reranking: a cross-encoder server puts the first documents found in its own order (optional).

The bundled encoder and BM25 score the question and a passage apart; the misses they leave are mostly
paraphrases whose page is among the first ten documents (benchmarks/eval/README.md). A model that reads
the question and the passage together orders those better, and none that fits a Lambda layer ships in
a wheel, so it runs as a server: any that speaks the rerank API of Cohere (vLLM, Infinity, Jina, Cohere,
OpenVINO Model Server, LiteLLM): POST {model, query, documents, top_n}, answered with
{results: [{index, relevance_score}]}.

The first RERANKED documents (by their best passage) are put in the server's order, and the rest follow
as they were, so the first documents still do not depend on k. Whether the documents cover the question
is decided before, on the fused evidence: a server's scores have a scale of their own. A server that
fails, or does not answer in time, leaves the fused order, with a warning that names no text.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from cdgpt.settings import Settings

log = logging.getLogger(__name__)

RERANKED = 20  # documents the server orders
PASSAGE_CHARS = 2000  # of each document's best passage: its title and headings, then its text
TIMEOUT_S = 5.0  # at most, and never past the request's time budget


class RerankFailed(Exception):
    """The server failed, was too slow, or answered something other than an order of the documents."""


def reranked[T](question: str, passages: list[str], items: list[T], settings: Settings) -> list[T]:
    """items (each with its passage, best first) with the first RERANKED in the server's order; as they
    are when no server is configured, or it fails."""
    if not settings.rerank_url or len(items) < 2:
        return items
    first = min(RERANKED, len(items))
    try:
        order = _order(question, [passage[:PASSAGE_CHARS] for passage in passages[:first]], settings)
    except RerankFailed as exc:
        log.warning("reranking skipped: %s", exc)
        return items
    return [items[i] for i in order] + items[first:]


def _order(question: str, documents: list[str], settings: Settings) -> list[int]:
    """The documents' indexes, most relevant first (ties, and any the server left out, in their order)."""
    import requests

    from cdgpt.clients import rerank_session, time_left
    from cdgpt.errors import UpstreamError

    assert settings.rerank_url
    left = time_left()
    timeout = TIMEOUT_S if left is None else min(TIMEOUT_S, left)
    if timeout <= 0:
        raise RerankFailed("no time was left in this request")
    body: dict[str, Any] = {"query": question, "documents": documents, "top_n": len(documents)}
    if settings.rerank_model:
        body["model"] = settings.rerank_model
    try:
        response = rerank_session().post(settings.rerank_url, json=body, timeout=timeout)
        response.raise_for_status()
        results = response.json()["results"]
        scores = {int(r["index"]): float(r["relevance_score"]) for r in results}
    except requests.Timeout as exc:
        raise RerankFailed(f"the server did not answer within {timeout:.1f} s") from exc
    except requests.HTTPError as exc:
        raise RerankFailed(f"the server answered HTTP {exc.response.status_code}") from exc
    except (requests.RequestException, UpstreamError) as exc:
        raise RerankFailed(f"the server is unreachable ({type(exc).__name__})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise RerankFailed(f"the server's answer is not a rerank result ({type(exc).__name__})") from exc
    if not all(0 <= i < len(documents) and math.isfinite(s) for i, s in scores.items()):
        raise RerankFailed("the server's answer names documents it was not sent")
    return sorted(range(len(documents)), key=lambda i: (-scores.get(i, -math.inf), i))
