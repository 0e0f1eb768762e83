"""Background: how close questions that no company's documents answer come to a model's chunks.

Each embedder has its own scale: an off-topic question's best cosine is near 0.15 with one and near
0.75 with another, and it rises with the corpus (a large manual lies near almost anything). At
training, everyday questions (`index/probes.py`, English and Chinese) are searched in the new version's
vector index; the median and 90th percentile of their best cosines, per language, go into the manifest.
The relevance decision sets the cosine floor of an embedder it was not tuned on from them
(`relevance.covers`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cdgpt.index.embeddings import Embedder
from cdgpt.index.probes import PROBES
from cdgpt.index.terms import mostly_cjk
from cdgpt.models.registry import Background


def measure(index_file: Path, embedder: Embedder) -> dict[str, Background]:
    """The probes' best cosines over the index's chunks, per language (none for an empty index)."""
    from cdgpt.index.vectors import read_vector_index

    index = read_vector_index(index_file)
    if not index.ntotal:
        return {}
    languages = list(PROBES)
    vectors = embedder.embed([question for language in languages for question in PROBES[language]])
    best = np.array([float(index.search(vector, 1)[1][0]) for vector in vectors])
    found, start = {}, 0
    for language in languages:
        part = best[start : start + len(PROBES[language])]
        start += len(part)
        found[language] = Background(
            median=round(float(np.median(part)), 4), p90=round(float(np.quantile(part, 0.9)), 4)
        )
    return found


def probe_language(text: str) -> str:
    """The probes' language to compare a question with: "zh" when CJK characters make most of its letters."""
    return "zh" if mostly_cjk(text) else "en"
