"""Domain errors. The API layer maps each class to an HTTP status in one place (api/contract.py)."""


class CdgptError(Exception):
    """Base class: the message is safe to show to the caller."""


class InvalidRequest(CdgptError):
    """The caller's input is malformed or out of bounds."""


class SourceRefused(InvalidRequest):
    """A source entry is not allowed (scheme, address, path outside the root)."""


class SourceFailed(CdgptError):
    """A source could not be fetched or read."""


class SourceUnavailable(SourceFailed):
    """A source could not be reached now (a network failure, a timeout, a server's 5xx or 429, a storage
    service refusing or failing); it may well be back, unlike a document that is gone or unreadable."""


def source_failure(cause: BaseException) -> type[SourceFailed]:
    """The class of a failure told again with more said: unavailable when its cause was."""
    return SourceUnavailable if isinstance(cause, SourceUnavailable) else SourceFailed


class InvalidValue(InvalidRequest):
    """A well-formed field whose value is refused (a language model not allowed, a template's placeholders)."""


class PayloadTooLarge(InvalidRequest):
    """An input is larger than the configured cap."""


class NotFound(CdgptError):
    """The named thing does not exist."""


class ModelNotFound(NotFound):
    """No trained model with that name (never trained, or deleted)."""


class JobNotFound(NotFound):
    """No training job with that id."""


class PromptNotFound(NotFound):
    """No prompt template with that name (upload it with /upload_prompt)."""


class KeyNotFound(NotFound):
    """No API key with that id."""


class Forbidden(CdgptError):
    """The caller's key may not do this (its role, or the models it is scoped to)."""


class Throttled(CdgptError):
    """The caller's key made more requests than its rate allows; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelDamaged(CdgptError):
    """The stored model cannot be read (corrupt manifest or artifacts); retraining repairs it."""


class ModelMismatch(CdgptError):
    """The model was built with a different embedder than the one configured."""


class TrainingFailed(CdgptError):
    """No source produced any text, so there is nothing to index."""


class ConcurrentUpdate(CdgptError):
    """Another training (or a deletion) changed the same model first."""


class IdempotencyMismatch(InvalidRequest):
    """An Idempotency-Key was reused for a different request."""


class UpstreamError(CdgptError):
    """A provider (OpenAI-compatible server, S3, Lambda) failed after retries."""


class UpstreamTimeout(UpstreamError):
    """A provider did not answer within the request's time budget."""
