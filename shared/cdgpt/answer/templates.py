"""Prompt templates of the original clients: `.txt` files fetched from URLs, stored under `prompts/`.

A template is the LLM's user message with `{context}` and `{question}` (and optionally `{history}`)
where the passages, the question and the recent history go; `{{` and `}}` are literal braces, as in
the original service. Templates are filled by splicing the three values between the template's
literal parts, never with `str.format`, so a placeholder such as `{context.__class__}` or
`{question[0]}` is refused when the template is uploaded, and again when it is used. The grounding
rules stay in the system message, and a question the documents do not cover is still not answered.
"""

from __future__ import annotations

import re
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from cdgpt.errors import CdgptError, Forbidden, InvalidValue, PromptNotFound, SourceFailed
from cdgpt.limits import MAX_PROMPT_CHARS
from cdgpt.models.store import ArtifactStore, default_store
from cdgpt.settings import Settings, get_settings

PREFIX = "prompts/"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PLACEHOLDERS = ("context", "question", "history")
REQUIRED = ("context", "question")
MAX_TEMPLATE_BYTES = 4 * MAX_PROMPT_CHARS  # what MAX_PROMPT_CHARS characters take in UTF-8 at most
FETCH_S = 6.0  # read timeout per template (a whole download gets three times this)


@dataclass(frozen=True)
class StoredTemplate:
    name: str
    size: int  # bytes stored


def check_name(name: str) -> str:
    if not NAME.fullmatch(name) or ".." in name:
        raise InvalidValue(f"a prompt name is 1-64 letters, digits, '-', '_' or '.': {name[:80]!r}")
    return name


def name_of(url: str) -> str:
    """The template's name: the URL's file name without `.txt` (`.../master.txt` is `master`)."""
    file_name = unquote(urlsplit(url).path.rpartition("/")[2])
    if not file_name.lower().endswith(".txt"):
        raise InvalidValue(f"file is not txt: {url[:200]}")
    return check_name(file_name[:-4])


def _parts(template: str, where: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, placeholder or None) pairs; InvalidValue for anything else."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidValue(f"{where}: unbalanced '{{' or '}}' (write {{{{ and }}}} for literal braces)") from exc
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (field not in PLACEHOLDERS or spec or conversion):
            shown = "{" + field + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            raise InvalidValue(f"{where}: unknown placeholder {shown[:80]}; use {{context}}, {{question}}, {{history}}")
        parts.append((literal, field))
    return parts


def check_template(template: str, where: str) -> str:
    if len(template) > MAX_PROMPT_CHARS:
        raise InvalidValue(f"{where}: a template is limited to {MAX_PROMPT_CHARS} characters")
    used = {field for _, field in _parts(template, where)}
    missing = [name for name in REQUIRED if name not in used]
    if missing:
        raise InvalidValue(f"{where}: the template needs the placeholder {{{missing[0]}}}")
    return template


def fill(template: str, context: str, question: str, history: str) -> str:
    values = {"context": context, "question": question, "history": history}
    return "".join(literal + (values[field] if field else "") for literal, field in _parts(template, "template"))


def load_template(name: str, *, settings: Settings | None = None, store: ArtifactStore | None = None) -> str:
    store = store or default_store(settings or get_settings())
    found = store.get(f"{PREFIX}{check_name(name)}.txt")
    if found is None:
        raise PromptNotFound(f"no prompt template {name!r}; upload {name}.txt with /upload_prompt")
    return check_template(found[0].decode("utf-8"), name)


def upload_templates(
    urls: list[str],
    *,
    settings: Settings | None = None,
    store: ArtifactStore | None = None,
    within: list[str] | None = None,
) -> list[StoredTemplate]:
    """Fetch each `.txt` URL (guarded, size-capped), check it, then store every one under its file name.
    `within`: the sources the caller's key may read, which a redirect may not leave."""
    from cdgpt.ingest.extract import detect_kind
    from cdgpt.ingest.extract.text import check_text, decode
    from cdgpt.ingest.pipeline import OUTSIDE
    from cdgpt.ingest.sources.scope import within as is_within
    from cdgpt.ingest.sources.url import fetch_url

    settings = settings or get_settings()
    store = store or default_store(settings)
    if not urls:
        raise InvalidValue("give the .txt URLs of the templates to upload")
    names = [name_of(url) for url in urls]  # every name is checked before anything is fetched
    # fetched in parallel, each within FETCH_S x 3, so that the request answers within API Gateway's 29 s
    capped = settings.model_copy(
        update={"max_source_bytes": MAX_TEMPLATE_BYTES, "fetch_timeout_s": min(settings.fetch_timeout_s, FETCH_S)}
    )

    def fetch(url: str, name: str) -> str:
        try:
            raw = fetch_url(url, capped)
            if raw.url and not is_within(raw.url, within):
                raise Forbidden(f"redirected to {raw.url[:300]}, {OUTSIDE}")
            text = decode(raw.content, detect_kind(raw)[1])
            check_text(text)
        except CdgptError as exc:  # the same kind of error (its status), naming the file
            kind = SourceFailed if isinstance(exc, SourceFailed) else type(exc)
            raise kind(f"{name}.txt: {exc}") from exc
        return check_template(text, f"{name}.txt")

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:  # the request bounds how many
        texts = list(pool.map(fetch, urls, names))
    stored = []
    for name, text in zip(names, texts, strict=True):
        data = text.encode("utf-8")
        store.put(f"{PREFIX}{name}.txt", data)
        stored.append(StoredTemplate(name, len(data)))
    return stored
