"""The original service's last request shapes, beside this API's own (a body in that shape has `space_name`).

- `POST /train {space_name, file_list, file_tag: "url"|"path"}` answers `{space_name, size_type,
  pkl_space_size, index_space_size}`;
- `POST /chat {space_name, question, history, model_name, prompt_name}`: `model_name` names the
  language model (an allowed name is answered by the configured chat model), `prompt_name` a template
  uploaded with `/upload_prompt`; it answers `{answer, history}`, `history` keeping the nulls it was sent;
- `POST /upload_prompt {file_list: [".txt" URLs]}` answers `{size_type, all_file_size}`.
The earlier shape (`model_name` naming the model) is this API's own (contract.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from cdgpt.answer.conversations import echoable
from cdgpt.api.contract import (
    ChatRequest,
    Entry,
    Envelope,
    HistoryItem,
    ModelName,
    Request,
    TrainRequest,
    WaitSeconds,
    train_result,
)
from cdgpt.errors import InvalidValue
from cdgpt.limits import MAX_HISTORY_CHARS, MAX_HISTORY_ITEMS, MAX_QUESTION_CHARS, MAX_SOURCES
from cdgpt.settings import Settings
from cdgpt.training.pipeline import TrainOutcome

MAX_TEMPLATES = 20  # templates in one /upload_prompt (fetched in parallel, within the request's time)


def _name_from_int(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


SpaceName = Annotated[ModelName, BeforeValidator(_name_from_int)]  # the original took a string or an integer


def _history_budget(history: list[str | None]) -> list[str | None]:
    if sum(len(item or "") for item in history) > MAX_HISTORY_CHARS:
        raise ValueError(f"history is limited to {MAX_HISTORY_CHARS} characters in all")
    return history


class OriginalTrainRequest(Request):
    space_name: SpaceName
    file_list: Annotated[list[Entry], Field(min_length=1, max_length=MAX_SOURCES)]
    file_tag: Literal["url", "path"] | None = Field(None, description="url: every entry is a URL; path: none is")
    wait_seconds: WaitSeconds = None

    @model_validator(mode="after")
    def _entries_match_the_tag(self) -> OriginalTrainRequest:
        for n, entry in enumerate(self.file_list):
            is_url = "://" in entry
            if self.file_tag == "path" and is_url:
                raise ValueError(f'file_tag is "path" but file_list.{n} is a URL: {entry[:200]}')
            if self.file_tag == "url" and not is_url:
                raise ValueError(f'file_tag is "url" but file_list.{n} is not a URL: {entry[:200]}')
        return self


class OriginalChatRequest(Request):
    space_name: SpaceName
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)]
    history: Annotated[
        list[HistoryItem | None], Field(max_length=MAX_HISTORY_ITEMS), AfterValidator(_history_budget)
    ] = Field(default_factory=list)
    model_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="the language model the original client named (an allowed name maps to the configured one)"
    )
    prompt_name: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="a prompt template uploaded with /upload_prompt (its file name without .txt)"
    )


class UploadPromptRequest(Request):
    file_list: Annotated[list[Entry], Field(min_length=1, max_length=MAX_TEMPLATES, description=".txt URLs")]


class OriginalTrainResult(BaseModel):
    space_name: str
    size_type: str = "kb"
    pkl_space_size: float = Field(description="the docstore (JSON), in KB")
    index_space_size: float = Field(description="the vector index, in KB")


class OriginalChatResult(BaseModel):
    answer: str
    history: list[str | None]


class UploadPromptResult(BaseModel):
    size_type: str = "kb"
    all_file_size: float


class OriginalTrainResponse(Envelope):
    data: OriginalTrainResult


class OriginalChatResponse(Envelope):
    data: OriginalChatResult


class UploadPromptResponse(Envelope):
    data: UploadPromptResult


def _shape(body: Any) -> str:
    return "original" if isinstance(body, dict) and "space_name" in body else "current"


TrainBody = Annotated[
    Annotated[TrainRequest, Tag("current")] | Annotated[OriginalTrainRequest, Tag("original")], Discriminator(_shape)
]
ChatBody = Annotated[
    Annotated[ChatRequest, Tag("current")] | Annotated[OriginalChatRequest, Tag("original")], Discriminator(_shape)
]


def original_train_response(outcome: TrainOutcome) -> OriginalTrainResponse:
    result = train_result(outcome)
    return OriginalTrainResponse(
        data=OriginalTrainResult(
            space_name=outcome.model_name,
            pkl_space_size=result.pkl_model_size,
            index_space_size=result.index_model_size,
        )
    )


def original_chat_response(request: OriginalChatRequest, answer: str) -> OriginalChatResponse:
    """The original's reply: the history as it was sent (nulls too), and the new turn; the oldest items go
    when the whole would be too long to send back."""
    history = echoable([*request.history, f"Human: {request.question}", f"Bot: {answer}"])
    return OriginalChatResponse(data=OriginalChatResult(answer=answer, history=history))


def upload_prompt_response(sizes: list[int]) -> UploadPromptResponse:
    return UploadPromptResponse(data=UploadPromptResult(all_file_size=round(sum(sizes) / 1024, 4)))


def check_language_model(name: str | None, settings: Settings) -> None:
    """The original clients named the LLM: an allowed name is answered by the configured chat model."""
    if name is not None and name not in settings.legacy_llm_models:
        allowed = ", ".join(sorted(settings.legacy_llm_models))
        answers = settings.chat_model if settings.answer_mode == "llm" else "the documents, quoted (no language model)"
        raise InvalidValue(
            f"model_name {name[:100]!r} is not an allowed language model (allowed: {allowed}); answers come from {answers}"
        )
