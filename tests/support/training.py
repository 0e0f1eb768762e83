"""Training as the API reports it: the result with the original clients' field names, as a dict."""

from __future__ import annotations

from cdgpt.api.contract import train_result
from cdgpt.index.embeddings import make_embedder
from cdgpt.index.probes import PROBES
from cdgpt.settings import get_settings
from cdgpt.training import pipeline


def trained(*args, **kwargs) -> dict:
    """`pipeline.train`, returning the wire result."""
    return train_result(pipeline.train(*args, **kwargs)).model_dump()


def retrained(*args, **kwargs) -> dict:
    """`pipeline.retrain`, returning the wire result."""
    return train_result(pipeline.retrain(*args, **kwargs)).model_dump()


class CountingEmbedder:
    """The real local embedder, keeping the texts it is asked to embed (`texts`), but not the background's
    probe questions, which every published version embeds (`index/background.py`)."""

    def __init__(self) -> None:
        self.inner = make_embedder(get_settings(), "local")
        self.provider, self.model, self.dim = self.inner.provider, self.inner.model, self.inner.dim
        self.texts: list[str] = []

    def embed(self, texts, progress=None):
        self.texts.extend(text for text in texts if text not in PROBE_TEXTS)
        return self.inner.embed(texts, progress)


PROBE_TEXTS = {question for questions in PROBES.values() for question in questions}
