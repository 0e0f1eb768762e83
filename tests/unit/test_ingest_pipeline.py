"""Ingestion: the training's budget, extraction in worker processes, and one bad document failing alone."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from cdgpt.errors import PayloadTooLarge
from cdgpt.index.lexical import LexicalIndex
from cdgpt.index.terms import term_counts
from cdgpt.ingest import pipeline
from cdgpt.ingest.chunking import chunk_document, chunk_from_record
from cdgpt.ingest.extract import Limits, extract
from cdgpt.ingest.pipeline import ingest
from cdgpt.ingest.sources import RawDocument, expand_entry
from cdgpt.ingest.workers import Config, Extractors, _Forked, process
from cdgpt.models.registry import read_manifest
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings
from cdgpt.training.pipeline import train
from tests.support import settings_with
from tests.support.pdf import make_pdf


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A source root holding docs/ with four 1,000-character text files, 0.txt to 3.txt."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"{i}.txt").write_text(f"Document {i} says this. " * 40)  # 24 * 40 = 960 characters + "."
    settings_with(monkeypatch, CDGPT_SOURCE_ROOT=str(tmp_path))
    return docs


def reasons(record) -> dict[str, str | None]:
    return {d["source"]: d.get("reason") for d in record.documents}


# --- the training's budget -----------------------------------------------------------------------


def test_once_the_entries_list_more_documents_than_a_training_holds_no_entry_is_listed_further(folder, monkeypatch):
    # Given one folder of four files named ten ways, and a training that holds five documents
    settings = settings_with(monkeypatch, CDGPT_FETCH_WORKERS="1")
    monkeypatch.setattr(pipeline, "MAX_DOCUMENTS", 5)
    listed = []
    monkeypatch.setattr(pipeline, "expand_entry", lambda *a: listed.append(a[0]) or expand_entry(*a))
    # When they are ingested, then the training is refused once two spellings were listed (eight documents)
    with pytest.raises(PayloadTooLarge, match="more than 5 documents"):
        ingest(["docs", *("./" * n + "docs" for n in range(1, 10))], settings)
    assert listed == ["docs", "./docs"]


def test_documents_past_the_trainings_text_budget_are_skipped_with_the_reason(folder, monkeypatch):
    # Given four documents of ~960 characters and a training budget that holds two of them
    settings = settings_with(monkeypatch, CDGPT_MAX_TRAINING_CHARS="2500")
    # When they are ingested
    [record], chunks = ingest(["docs"], settings)
    # Then the first two are indexed and the other two skipped, saying why
    assert {c.source for c in chunks} == {"docs/0.txt", "docs/1.txt"}
    budget = "the training's text budget of 2500 characters is used up (CDGPT_MAX_TRAINING_CHARS)"
    assert reasons(record) == {"docs/0.txt": None, "docs/1.txt": None, "docs/2.txt": budget, "docs/3.txt": budget}
    assert record.status == "ok" and record.reason.startswith("2 of 4 documents skipped")


def test_once_a_document_does_not_fit_every_later_one_is_skipped(folder, monkeypatch):
    # Given a large second document that does not fit, and small ones after it that would
    (folder / "1.txt").write_text("Large. " * 1000)
    (folder / "2.txt").write_text("Small.")
    settings = settings_with(monkeypatch, CDGPT_MAX_TRAINING_CHARS="2500")
    [record], chunks = ingest(["docs"], settings)
    # Then what is kept does not depend on which document finished first: only the first one
    assert {c.source for c in chunks} == {"docs/0.txt"}
    assert [r is None for r in reasons(record).values()] == [True, False, False, False]


def test_documents_past_the_trainings_chunk_budget_are_skipped(folder, monkeypatch):
    settings = settings_with(monkeypatch, CDGPT_MAX_TRAINING_CHUNKS="3", CDGPT_CHUNK_CHARS="500")
    [record], chunks = ingest(["docs"], settings)  # two chunks per document
    assert {c.source for c in chunks} == {"docs/0.txt"}
    assert reasons(record)["docs/1.txt"] == "the training's budget of 3 chunks is used up (CDGPT_MAX_TRAINING_CHUNKS)"


def test_a_document_over_its_own_chunk_budget_is_skipped_alone(folder, monkeypatch):
    (folder / "2.txt").write_text("A sentence here. " * 400)
    settings = settings_with(monkeypatch, CDGPT_MAX_DOCUMENT_CHUNKS="4")
    [record], chunks = ingest(["docs"], settings)
    assert reasons(record)["docs/2.txt"] == "more than 4 chunks (CDGPT_MAX_DOCUMENT_CHUNKS)"
    assert {c.source for c in chunks} == {"docs/0.txt", "docs/1.txt", "docs/3.txt"}


# --- worker processes ----------------------------------------------------------------------------

PAGES = [
    RawDocument(
        "a.html", b"<html><title>A</title><body><h1>Alpha</h1><p>First page.</p></body></html>", None, "a.html"
    ),
    RawDocument("b.md", "# Beta\n\nSecond: ünïcode, 中文。".encode(), "text/markdown", "b.md"),
    RawDocument("c.pdf", make_pdf(["Third, in a PDF."]), "application/pdf", "c.pdf"),
    RawDocument("d.bin", bytes(range(256)) * 64, None, "d.bin"),
]
CONFIG = Config(1200, 150, Limits(pages=10, chars=10_000, chunks=10, cpu_s=30))


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture(params=["forked", "new interpreter"])
def started(request, monkeypatch):
    """How workers start: forked from this process, or as new interpreters (while other threads run)."""
    monkeypatch.setattr("cdgpt.ingest.workers._can_fork", lambda: request.param == "forked")
    return _Forked if request.param == "forked" else subprocess.Popen


def test_a_worker_process_extracts_exactly_as_this_process_does(started, monkeypatch):
    # Given no multiprocessing at all (Lambda has no /dev/shm for its semaphores)
    for name in ("multiprocessing", "_multiprocessing", "concurrent.futures.process"):
        monkeypatch.setitem(sys.modules, name, None)
    with Extractors(CONFIG, processes=1) as extractors:
        assert type(extractors.workers[0].proc) is started
        wait_for(lambda: extractors.ready == 1)  # from now on every document goes to the worker
        outcomes = [extractors.run(page) for page in PAGES]
        assert not extractors.here
    # Then each outcome is the one extraction in this process gives, failures and their reasons included
    assert outcomes == [process(page, CONFIG) for page in PAGES]
    assert outcomes[1].chunks[0].text == "Second: ünïcode, 中文。" and outcomes[2].chunks[0].page == 1
    # And each chunk comes with its BM25 term counts, those of its indexed text
    chunks = [chunk for outcome in outcomes for chunk in outcome.chunks]
    assert [chunk.terms.as_dict() for chunk in chunks] == [term_counts(chunk.context) for chunk in chunks]
    assert chunks[1].terms.as_dict() == {"beta": 2, "second": 1, "ünïcode": 1, "中文": 1}  # "Beta > Beta\nSecond: ..."
    assert outcomes[3].reason.startswith("d.bin: binary data, not text")


def test_a_worker_that_dies_fails_only_its_document_and_is_replaced(started):
    with Extractors(CONFIG, processes=1) as extractors:
        wait_for(lambda: extractors.ready == 1)
        first = extractors.workers[0]
        assert type(first.proc) is started
        first.proc.kill()  # our own child, by its handle
        first.proc.wait()
        outcomes = [extractors.run(page) for page in PAGES[:3]]  # the dead worker, then this process or a new one
        assert [o.reason for o in outcomes] == ["the extraction process failed on this document", None, None]
        wait_for(lambda: len(extractors.workers) == 2 and extractors.ready == 1)  # a new one took its place
        assert extractors.workers[1].proc.poll() is None
        assert type(extractors.workers[1].proc) is subprocess.Popen  # a replacement starts afresh


WORKER_STARTS = """
import threading
from cdgpt.ingest.workers import Config, Extractors, fork_safe

def started():
    with Extractors(Config(1200, 150), processes=1) as extractors:
        return type(extractors.workers[0].proc).__name__

stop = threading.Event()
print(started())
fork_safe(threading.Thread(target=stop.wait, name="job-heartbeat", daemon=True)).start()
print(started())
threading.Thread(target=stop.wait, daemon=True).start()
print(started())
stop.set()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_workers_fork_beside_marked_threads_only():
    # A fresh process: this one may hold other tests' threads
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    ran = subprocess.run([sys.executable, "-c", WORKER_STARTS], capture_output=True, text=True, env=env, timeout=60)
    assert ran.stdout.split() == ["_Forked", "_Forked", "Popen"], ran.stderr


def test_a_forked_workers_log_lines_go_where_this_process_logs_them(tmp_path, monkeypatch):
    # Given a log file, and extraction failing unexpectedly (patched before the worker is forked)
    monkeypatch.setattr("cdgpt.ingest.workers._can_fork", lambda: True)

    def failing(raw, budget=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr("cdgpt.ingest.workers.extract", failing)
    handler, logger = logging.FileHandler(tmp_path / "log.txt"), logging.getLogger("cdgpt.ingest.workers")
    logger.addHandler(handler)
    try:
        with Extractors(CONFIG, processes=1) as extractors:
            outcome = extractors.run(PAGES[0])
            assert not extractors.here  # the worker's outcome
    finally:
        logger.removeHandler(handler)
        handler.close()
    # Then the document fails alone, and the worker's log line is in the file, not in its outcomes' pipe
    assert outcome.reason == "internal error reading this source"
    assert "unexpected failure extracting a document" in (tmp_path / "log.txt").read_text()


def test_a_worker_enforces_the_documents_cpu_budget_itself(started):
    config = Config(1200, 150, Limits(cpu_s=1e-9))
    with Extractors(config, processes=1) as extractors:
        wait_for(lambda: extractors.ready == 1)
        outcome = extractors.run(PAGES[2])
    assert outcome.reason == "more than 1e-09 s of CPU time to extract (CDGPT_MAX_DOCUMENT_SECONDS)"


def test_ingesting_with_worker_processes_gives_the_same_chunks_in_the_same_order(folder, started, monkeypatch):
    for i in range(4, 12):
        (folder / f"{i}.html").write_text(
            f"<html><body><h1>Page {i}</h1><p>{'Words here. ' * (i * 20)}</p></body></html>"
        )
    alone = ingest(["docs"], settings_with(monkeypatch, CDGPT_EXTRACT_PROCESSES="0"))
    with_workers = ingest(["docs"], settings_with(monkeypatch, CDGPT_EXTRACT_PROCESSES="2"))
    assert with_workers == alone


def test_a_model_trained_on_worker_processes_term_counts_has_the_lexical_index_of_its_texts(folder, monkeypatch):
    # Given pages in English, Chinese and full-width Latin, enough of them for worker processes
    for i in range(4, 10):
        body = "Running policies were REORGANIZED; 年假可以结转。 ＡＢＣ１２３ and the committees. " * (i * 12)
        (folder / f"{i}.html").write_text(f"<html><body><h1>Page {i}</h1><p>{body}</p></body></html>")
    settings = settings_with(monkeypatch, CDGPT_EXTRACT_PROCESSES="2")

    class TokenizingAgain:
        def count(self, text: str) -> None:
            raise AssertionError("a chunk was tokenized again in the training's process")

    monkeypatch.setattr("cdgpt.training.pipeline.Vocabulary", TokenizingAgain)
    # When a model is trained, each chunk's terms counted where it was extracted
    train("m", ["docs"], settings=settings, embedder=FixedEmbedder())
    # Then its BM25 index is, byte for byte, the one its chunks' texts give when tokenized in one process
    store = default_store(settings)
    manifest, _ = read_manifest(store, "m")
    lexical = store.get(f"models/m/{manifest.files['lexical']}")[0]
    lines = store.get(f"models/m/{manifest.files['docstore']}")[0].decode().splitlines()
    chunks = [chunk_from_record(json.loads(line)) for line in lines]
    assert len(chunks) > 10 and all(chunk.terms is None for chunk in chunks)  # the counts are not stored
    assert lexical == LexicalIndex.build(chunk.context for chunk in chunks).to_bytes()


# --- one bad document fails alone ----------------------------------------------------------------


class FixedEmbedder:
    provider, model, dim = "openai", "text-embedding-3-small", 8

    def embed(self, texts, progress=None):
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)


def test_a_page_declaring_unicode_escape_trains_instead_of_failing_the_training(web, monkeypatch):
    # Given the page from the issue: its escapes decode to a lone surrogate, which no encoder accepts
    bad = web.add("/bad.txt", b"Reading \\ud800 here.", "text/plain; charset=unicode_escape")
    good = web.add("/good.html", "<html><body><p>Good page.</p></body></html>")
    settings = settings_with(monkeypatch, CDGPT_ALLOW_PRIVATE_URLS="1")
    # When a model is trained on it, then the training succeeds and keeps both pages
    result = train("charsets", [bad, good], settings=settings, embedder=FixedEmbedder())
    assert [s.status for s in result.sources] == ["ok", "ok"] and result.documents == 2


def test_a_symlink_loop_and_an_unresolvable_name_in_a_folder_fail_alone(folder):
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "long").symlink_to(folder / ("n" * 300))
    [record], chunks = ingest(["docs"], get_settings())
    assert record.status == "ok"
    found = reasons(record)
    assert found["docs/loop"] == "cannot resolve the path: a symlink loop"
    assert found["docs/long"] == "cannot resolve the path: File name too long"
    assert {c.source for c in chunks} == {f"docs/{i}.txt" for i in range(4)}


def test_an_entry_whose_name_is_too_long_fails_alone_with_its_reason_and_no_traceback(folder, caplog):
    records, chunks = ingest(["docs/" + "x" * 300, "docs/0.txt"], get_settings())
    assert [(r.status, r.reason) for r in records] == [
        ("failed", f"cannot read docs/{'x' * 300}: File name too long"),
        ("ok", None),
    ]
    assert {c.source for c in chunks} == {"docs/0.txt"}
    assert not [r for r in caplog.records if r.exc_info]  # a reason, not an internal error's traceback


def test_chunks_know_their_anchor_and_page():
    html = '<html><body><section id="leave"><h2>Leave</h2><p>Twenty days.</p></section></body></html>'
    [chunk] = chunk_document(extract(RawDocument("p.html", html.encode(), "text/html", "p.html")), 1200, 150)
    assert (chunk.anchor, chunk.page) == ("leave", None)
    [chunk] = chunk_document(extract(PAGES[2]), 1200, 150)
    assert (chunk.anchor, chunk.page) == (None, 1)
