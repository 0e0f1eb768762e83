"""One typed settings object, read from the environment once."""

from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cdgpt.limits import MAX_DOCUMENTS

ORIGIN = re.compile(r"https?://[^,\s/]+")  # a browser origin, as the template's CorsAllowOrigins allows


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Providers
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_max_retries: int = Field(4, alias="CDGPT_OPENAI_MAX_RETRIES", ge=0, le=10)
    openai_timeout_s: float = Field(60.0, alias="CDGPT_OPENAI_TIMEOUT", gt=0)
    embeddings: Literal["openai", "local"] | None = Field(None, alias="CDGPT_EMBEDDINGS")
    embedding_model: str = Field("text-embedding-3-small", alias="CDGPT_EMBEDDING_MODEL")
    chat_model: str = Field("gpt-4o-mini", alias="CDGPT_CHAT_MODEL")
    answers: Literal["llm", "extractive"] | None = Field(None, alias="CDGPT_ANSWERS")
    # A reranking server (the rerank API of Cohere, vLLM, Infinity, Jina: `answer/reranking.py`); none by default
    rerank_url: str | None = Field(None, alias="CDGPT_RERANK_URL", pattern=r"^https?://\S+$")
    rerank_model: str | None = Field(None, alias="CDGPT_RERANK_MODEL", max_length=200)
    rerank_api_key: SecretStr | None = Field(None, alias="CDGPT_RERANK_API_KEY")

    # Sources
    allow_private_urls: bool = Field(False, alias="CDGPT_ALLOW_PRIVATE_URLS")
    source_root: Path | None = Field(None, alias="CDGPT_SOURCE_ROOT")
    max_source_bytes: int = Field(20 * 1024 * 1024, alias="CDGPT_MAX_SOURCE_BYTES", gt=0)
    max_prefix_objects: int = Field(5000, alias="CDGPT_MAX_PREFIX_OBJECTS", gt=0)
    fetch_timeout_s: float = Field(20.0, alias="CDGPT_FETCH_TIMEOUT", gt=0)
    fetch_workers: int = Field(8, alias="CDGPT_FETCH_WORKERS", ge=1, le=64)

    # Extraction: each document's budget (past one it is skipped with the reason), the training's, and its processes
    max_document_pages: int = Field(2000, alias="CDGPT_MAX_DOCUMENT_PAGES", ge=1)
    max_document_chars: int = Field(20_000_000, alias="CDGPT_MAX_DOCUMENT_CHARS", ge=1)
    max_document_chunks: int = Field(20_000, alias="CDGPT_MAX_DOCUMENT_CHUNKS", ge=1)
    max_document_cpu_s: float = Field(60.0, alias="CDGPT_MAX_DOCUMENT_SECONDS", gt=0)
    max_training_chars: int = Field(150_000_000, alias="CDGPT_MAX_TRAINING_CHARS", ge=1)
    max_training_chunks: int = Field(150_000, alias="CDGPT_MAX_TRAINING_CHUNKS", ge=1)
    extract_processes: int | None = Field(None, alias="CDGPT_EXTRACT_PROCESSES", ge=0, le=64)

    # Chunking and retrieval
    chunk_chars: int = Field(1200, alias="CDGPT_CHUNK_CHARS", ge=200, le=20000)
    chunk_overlap_chars: int = Field(150, alias="CDGPT_CHUNK_OVERLAP", ge=0, le=5000)
    top_k: int = Field(4, alias="CDGPT_TOP_K", ge=1, le=50)
    lexical_weight: float | None = Field(None, alias="CDGPT_LEXICAL_WEIGHT", ge=0, le=1)  # None: the embedder's
    min_score: float | None = Field(None, alias="CDGPT_MIN_SCORE", ge=-1, le=1)  # a cosine
    conversation_hours: float = Field(24.0, alias="CDGPT_CONVERSATION_HOURS", gt=0, le=24)
    exact_search_max_mb: float = Field(32.0, alias="CDGPT_EXACT_SEARCH_MAX_MB", ge=0)

    # API
    api_secret: SecretStr | None = Field(None, alias="API_SECRET")
    api_secret_param: str | None = Field(None, alias="API_SECRET_PARAM")
    openai_api_key_param: str | None = Field(None, alias="OPENAI_API_KEY_PARAM")
    rerank_api_key_param: str | None = Field(None, alias="CDGPT_RERANK_API_KEY_PARAM")
    key_cache_s: float = Field(60.0, alias="CDGPT_KEY_CACHE_SECONDS", ge=0, le=3600)
    rate_limit: int = Field(600, alias="CDGPT_RATE_LIMIT", ge=1, le=1_000_000)
    auth_failures: int = Field(
        20, alias="CDGPT_AUTH_FAILURES", ge=1, le=1_000_000
    )  # wrong secrets a minute, per address
    rate_table: str | None = Field(None, alias="CDGPT_RATE_TABLE")
    legacy_llm_models_setting: str = Field(
        "gpt-3.5-turbo,gpt-3.5-turbo-0301,gpt-3.5-turbo-16k,text-davinci-003,gpt-4", alias="CDGPT_LEGACY_LLM_MODELS"
    )
    cors_origins_setting: str = Field("", alias="CDGPT_CORS_ORIGINS")

    # Training jobs
    job_runner_setting: Literal["lambda", "process", "thread"] | None = Field(None, alias="CDGPT_JOB_RUNNER")
    worker_function: str | None = Field(None, alias="CDGPT_WORKER_FUNCTION")
    job_lease_s: float = Field(60.0, alias="CDGPT_JOB_LEASE_SECONDS", gt=0, le=3600)
    job_heartbeat_s: float = Field(5.0, alias="CDGPT_JOB_HEARTBEAT_SECONDS", gt=0, le=600)
    job_start_s: float = Field(900.0, alias="CDGPT_JOB_START_SECONDS", gt=0, le=86400)
    train_wait_s: float = Field(20.0, alias="CDGPT_TRAIN_WAIT_SECONDS", ge=0, le=25)

    # Sharded training (training/sharded/): many workers, then one merge
    shard_above_documents: int = Field(
        5000, alias="CDGPT_SHARD_ABOVE_DOCUMENTS", ge=1, le=MAX_DOCUMENTS
    )  # a training of more documents runs sharded (one worker takes at most MAX_DOCUMENTS)
    shard_documents: int = Field(500, alias="CDGPT_SHARD_DOCUMENTS", ge=1, le=MAX_DOCUMENTS)
    shard_concurrency: int = Field(2, alias="CDGPT_SHARD_CONCURRENCY", ge=1, le=1000)  # shards worked at once
    shard_lease_s: float = Field(1200.0, alias="CDGPT_SHARD_LEASE_SECONDS", gt=0, le=86400)
    state_machine: str | None = Field(None, alias="CDGPT_STATE_MACHINE")  # its ARN: shards run on Step Functions
    attention_queue: str | None = Field(None, alias="CDGPT_ATTENTION_QUEUE")  # the merge tells it of a job to look at

    # Artifacts
    artifacts_bucket: str | None = Field(None, alias="ARTIFACTS_BUCKET")
    data_dir: Path = Field(Path(".cdgpt"), alias="CDGPT_DATA_DIR")
    cache_dir: Path = Field(Path(tempfile.gettempdir()) / "cdgpt-cache", alias="CDGPT_CACHE_DIR")
    work_dir: Path = Field(Path(tempfile.gettempdir()), alias="CDGPT_WORK_DIR")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap_chars >= self.chunk_chars:
            raise ValueError("CDGPT_CHUNK_OVERLAP must be smaller than CDGPT_CHUNK_CHARS")
        return self

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        if self.job_heartbeat_s * 2 > self.job_lease_s:
            raise ValueError("CDGPT_JOB_HEARTBEAT_SECONDS must be at most half of CDGPT_JOB_LEASE_SECONDS")
        return self

    @model_validator(mode="after")
    def _openai_where_asked_for(self) -> Settings:
        for name, value in (("CDGPT_EMBEDDINGS", self.embeddings), ("CDGPT_ANSWERS", self.answers)):
            if value in ("openai", "llm") and not self.openai_configured:
                raise ValueError(f"{name}={value} needs OPENAI_API_KEY (or OPENAI_API_KEY_PARAM, or OPENAI_BASE_URL)")
        return self

    @model_validator(mode="after")
    def _folders(self) -> Settings:
        if not self.work_dir.is_dir():
            raise ValueError(f"CDGPT_WORK_DIR must be an existing folder: {self.work_dir}")
        for name, path in (("CDGPT_DATA_DIR", self.data_dir), ("CDGPT_CACHE_DIR", self.cache_dir)):
            if path.exists() and not path.is_dir():
                raise ValueError(f"{name} must be a folder, not a file: {path}")
        return self

    @model_validator(mode="after")
    def _cors_origins_are_origins(self) -> Settings:
        for origin in self.cors_origins:
            if not ORIGIN.fullmatch(origin):
                raise ValueError(f"CDGPT_CORS_ORIGINS: {origin[:100]!r} is not scheme://host[:port]")
        return self

    @property
    def job_runner(self) -> Literal["lambda", "process", "thread"]:
        """How queued jobs start: a Lambda invocation when a worker function is named, else a thread."""
        if self.job_runner_setting:
            return self.job_runner_setting
        return "lambda" if self.worker_function else "thread"

    @property
    def legacy_llm_models(self) -> set[str]:
        """Language models the original clients may name: each is answered by the configured chat model."""
        return {name.strip() for name in self.legacy_llm_models_setting.split(",") if name.strip()} | {self.chat_model}

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """Origins whose pages may call the API from a browser (none by default)."""
        return tuple(o.strip().rstrip("/") for o in self.cors_origins_setting.split(",") if o.strip())

    @property
    def openai_key_given(self) -> bool:
        """A key in the environment, or the name of the SSM parameter holding it (read when first needed)."""
        return self.openai_api_key is not None or self.openai_api_key_param is not None

    @property
    def openai_configured(self) -> bool:
        return self.openai_key_given or self.openai_base_url is not None

    @property
    def embedding_provider(self) -> Literal["openai", "local"]:
        if self.embeddings:
            return self.embeddings
        return "openai" if self.openai_key_given else "local"

    @property
    def answer_mode(self) -> Literal["llm", "extractive"]:
        if self.answers:
            return self.answers
        return "llm" if self.openai_configured else "extractive"


class InvalidSettings(ValueError):
    """A setting the environment gives is wrong; the message names it and why, never the values given
    (pydantic's own message quotes the whole environment for a rule across settings, secrets included)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise InvalidSettings(f"invalid settings: {'; '.join(problems)}") from None
