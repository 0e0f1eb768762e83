"""Domain errors. The API layer maps each class to an HTTP status in one place."""


class CdgptError(Exception):
    """Base class: the message is safe to show to the caller."""


class InvalidRequest(CdgptError):
    """The caller's input is malformed or out of bounds."""


class SourceRefused(InvalidRequest):
    """A source entry is not allowed (scheme, address, path outside the root)."""


class SourceFailed(CdgptError):
    """A source could not be fetched or read."""


class PayloadTooLarge(InvalidRequest):
    """An input is larger than the configured cap."""


class ModelNotFound(CdgptError):
    """No trained model with that name."""


class ModelMismatch(CdgptError):
    """The model was built with a different embedder than the one configured."""


class TrainingFailed(CdgptError):
    """No source produced any text, so there is nothing to index."""


class ConcurrentUpdate(CdgptError):
    """Another training published the same model first."""


class UpstreamError(CdgptError):
    """A provider (OpenAI-compatible server, S3) failed after retries."""
