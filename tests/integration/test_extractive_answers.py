"""What an extractive answer quotes: whole steps after the sentence or heading that leads into them, one
sentence per paragraph at most, and a sentence that two documents share once."""

from __future__ import annotations

import pytest

from cdgpt.answer.answering import EXTRACTIVE_LABEL, chat, question_parts
from cdgpt.index.embeddings import make_embedder
from cdgpt.models.store import LocalStore
from cdgpt.settings import Settings
from tests.support.training import trained

PAGES = {
    "line-numbers.md": """# Line numbers

Writer prints line numbers beside the text when you ask it to.

## Numbering every line

To add line numbers to a whole document:

1. Choose Tools - Line Numbering
2. Select Show numbering
3. Click OK
4. Save the document

## Removing line numbers

Open the Line Numbering dialog. Clear the Show box. Press Enter. Then close the dialog.

## See also

Printing line numbers

Line numbers in page styles

Counting blank lines
""",
    "install.md": """# Installing

## Installing the app

Start the wizard. Click Next. Click Next. Click Finish.
""",
    "helpdesk.md": """# Helpdesk

The IT helpdesk is open from 8 am to 6 pm. Call extension 2300 for
the helpdesk.

[16]

The desk is on the first floor.
""",
    "deploy.md": """# Payments service

## Deploying to staging

To deploy the payments service to staging, run:

```
make build
make ship ENV=staging
```
""",
    "backup.md": "# Backups\n\n## Nightly dump\n\nTo back up every database, the nightly job runs:\n\n```\n"
    + "\n".join(f"pg_dump --format=custom shard{n:02d} > /backups/shard{n:02d}.dump" for n in range(60))
    + "\n```\n",
    "leave.md": """# Leave

## Sick leave

You can be off sick for up to 7 calendar days without a note from a doctor. From the eighth day you
need a fit note. Sick pay is your full salary for 15 working days in a year. After that, statutory sick
pay applies. Tell your manager before 10 am on the first day. Your manager records the absence.

## Notes from a doctor

A doctor's note can be a fit note or a hospital letter. Send a photo of the doctor's note to HR. A
note from a doctor abroad is accepted when it is translated. Keep the original note.

## Holidays

Book holidays in the HR system. For a day or two off, give at least 5 working days' notice. The
holiday year starts in January. Unused days cannot be carried over. Trips of two weeks or more need 10
working days' notice and a manager's approval.
""",
    "new-starters.md": """# New starters

Your buddy shows you around on your first day. Call extension 2300 for
the helpdesk.
""",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> LocalStore:
    root = tmp_path_factory.mktemp("pages")
    for name, text in PAGES.items():
        (root / name).write_text(text, "utf-8")
    settings = Settings(CDGPT_SOURCE_ROOT=root, CDGPT_EMBEDDINGS="local", CDGPT_DATA_DIR=root / "data")
    store = LocalStore(settings.data_dir)
    trained("guide", list(PAGES), settings=settings, store=store, embedder=make_embedder(settings, "local"))
    return store


def quoted(store: LocalStore, question: str) -> str:
    answer = chat("guide", question, store=store)["answer"]
    assert answer.startswith(EXTRACTIVE_LABEL + "\n")
    return answer.removeprefix(EXTRACTIVE_LABEL + "\n")


def test_the_best_sentence_is_quoted_with_the_steps_that_follow_it(store):
    answer = quoted(store, "How do I add line numbers to a whole document?")
    lead_in = "To add line numbers to a whole document:"
    steps = "1. Choose Tools - Line Numbering 2. Select Show numbering 3. Click OK"
    # FOLLOWING_SENTENCES steps (with no full stop: each line is one), then one citation: not the fourth step
    assert f"{lead_in} {steps} [1]" in answer


def test_a_heading_closest_to_the_question_leads_into_the_steps_under_it(store):
    answer = quoted(store, "How do I remove line numbers?")
    assert "Open the Line Numbering dialog. Clear the Show box. Press Enter. [1]" in answer
    assert "Removing line numbers" not in answer  # the heading itself is not quoted


def test_a_step_repeated_in_its_passage_is_quoted_each_time(store):
    assert "Start the wizard. Click Next. Click Next. [1]" in quoted(store, "How do I install the app?")


def test_a_sentence_never_runs_over_a_paragraph_break(store):
    answer = quoted(store, "Can line numbers be printed, and in page styles?")
    assert "Printing line numbers" in answer or "Line numbers in page styles" in answer
    assert "\n" not in answer  # the titles of "See also" are three sentences, not one


def test_a_sentence_two_documents_share_is_quoted_once_and_on_one_line(store):
    answer = quoted(store, "What is the helpdesk extension?")
    assert answer.count("Call extension 2300 for the helpdesk.") == 1
    assert "[16]" not in answer  # a footnote's mark, no sentence: it would read as a citation


def test_code_is_quoted_line_by_line_without_its_fences(store):
    answer = quoted(store, "How do I deploy the payments service to staging?")
    assert "make build make ship ENV=staging" in answer
    assert "```" not in answer


def test_a_question_with_two_letters_swapped_is_answered_and_searched_as_typed_right(store):
    reply = chat("guide", "How do I deploy the payments service to stgaing?", store=store)
    assert reply["search_queries"] == ["How do I deploy the payments service to staging?"]
    assert "make build make ship ENV=staging" in reply["answer"]


def test_code_longer_than_a_chunk_is_quoted_without_fences_from_any_of_its_chunks(store):
    # The block spans three chunks: each is closed where a chunk cuts it and opened again in the next.
    for question in ("How do I back up every database?", "Which pg_dump command writes the dump of shard31?"):
        answer = quoted(store, question)
        assert "pg_dump --format=custom" in answer
        assert "```" not in answer


def test_each_part_of_a_question_asking_two_things_gets_its_own_best_sentence(store):
    answer = quoted(
        store, "Where do I send a photo of my doctor's note when I am off sick, and can unused days be carried over?"
    )
    assert "Send a photo of the doctor's note to HR." in answer
    assert (
        "Unused days cannot be carried over. [1]" in answer
    )  # the second part's: the first part's words lead the rest


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("How long is the trip?", []),
        ("What is Tom's role, and how do I reach him?", ["What is Tom's role", "how do I reach him?"]),
        ("Where is it? Who runs it?", ["Where is it?", "Who runs it?"]),
        ("Salt and pepper, and vinegar?", []),  # "and" before no question word joins things, not questions
        ("年假有几天？病假呢？", ["年假有几天？", "病假呢？"]),
        ("报销要多久，另外谁来审批？", ["报销要多久", "另外谁来审批？"]),
    ],
)
def test_a_question_is_split_into_the_questions_it_asks(question, parts):
    assert question_parts(question) == parts
