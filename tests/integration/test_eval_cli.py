"""`cdgpt eval`: retrieval quality on questions with known sources, and its input checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cdgpt.answer.evaluation import Case, evaluate, load_cases, matches
from cdgpt.clients import reset_clients
from cdgpt.errors import InvalidRequest
from cdgpt.local.cli import main
from tests.support import REPO

QUESTIONS = "samples/questions.jsonl"
LEAVE = "samples/handbook/leave-and-holidays.md"
LEAVE_QUESTION = "How many days of paid annual leave does a full-time employee get per year?"
PASSWORD_QUESTION = "What is the minimum length of a Brightwheel password?"
SUMMARY = re.compile(r"^handbook: (\d+) questions  R@1 (\d\.\d{3})  R@(\d+) (\d\.\d{3})  MRR (\d\.\d{3})$")
REPORT_KEYS = {"model_name", "questions", "k", "recall_at_1", "recall_at_k", "mrr", "misses"}


@pytest.fixture
def handbook(in_repo, capsys):
    assert run(capsys, "train", "--model", "handbook", "samples/handbook")[0] == 0
    return "handbook"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    reset_clients()
    out, err = capsys.readouterr()
    return code, out, err


def write_cases(path: Path, *cases: dict | str) -> str:
    lines = [case if isinstance(case, str) else json.dumps(case, ensure_ascii=False) for case in cases]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def only_error_line(err: str) -> str:
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def questions_with_a_source() -> int:
    lines = (REPO / QUESTIONS).read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line)["expected_source"] is not None for line in lines if line.strip())


# --- the command -----------------------------------------------------------------------------------


def test_eval_prints_recall_and_mrr(handbook, capsys):
    code, out, err = run(capsys, "eval", "--model", handbook, QUESTIONS)
    assert code == 0 and err == ""
    summary = out.rstrip("\n").split("\n")[-1]
    match = SUMMARY.match(summary)
    assert match, summary
    questions, r1, k, rk, mrr = match.groups()
    assert int(questions) == questions_with_a_source() == 14  # the null-source question is skipped
    assert k == "4"
    r1, rk, mrr = float(r1), float(rk), float(mrr)
    assert all(0 <= value <= 1 for value in (r1, rk, mrr))
    assert r1 <= rk and r1 <= mrr
    assert r1 >= 0.9 and mrr >= 0.9  # the sample questions are answerable from the handbook
    assert out.count("miss (") == round((1 - r1) * int(questions))


def test_eval_json_report(handbook, capsys):
    code, out, _ = run(capsys, "eval", "--model", handbook, "--json", "--k", "2", QUESTIONS)
    assert code == 0
    report = json.loads(out)
    assert set(report) == REPORT_KEYS
    assert report["model_name"] == "handbook" and report["questions"] == 14 and report["k"] == 2
    for key in ("recall_at_1", "recall_at_k", "mrr"):
        assert isinstance(report[key], float) and 0 <= report[key] <= 1
    assert report["recall_at_1"] <= report["recall_at_k"]
    assert len(report["misses"]) == round((1 - report["recall_at_1"]) * 14)

    code, text, _ = run(capsys, "eval", "--model", handbook, "--k", "2", QUESTIONS)
    numbers = SUMMARY.match(text.rstrip("\n").split("\n")[-1]).groups()
    assert numbers == (
        "14",
        f"{report['recall_at_1']:.3f}",
        "2",
        f"{report['recall_at_k']:.3f}",
        f"{report['mrr']:.3f}",
    )


def test_a_wrong_expected_source_is_listed_as_a_miss(handbook, capsys, tmp_path):
    file = write_cases(
        tmp_path / "wrong.jsonl",
        {"question": LEAVE_QUESTION, "expected_source": "samples/handbook/benefits.txt"},
        {"question": PASSWORD_QUESTION, "expected_source": "it-and-security.html"},  # a suffix is enough
    )
    code, out, _ = run(capsys, "eval", "--model", handbook, "--json", file)
    assert code == 0
    report = json.loads(out)
    assert report["questions"] == 2 and report["recall_at_1"] == 0.5
    [miss] = report["misses"]
    assert miss["question"] == LEAVE_QUESTION and miss["expected"] == "samples/handbook/benefits.txt"
    assert miss["got"][0] == LEAVE and 1 <= len(miss["got"]) <= 3
    assert miss["rank"] is None or 2 <= miss["rank"] <= 10
    expected_mrr = round((1 + (1 / miss["rank"] if miss["rank"] else 0)) / 2, 4)
    assert report["mrr"] == expected_mrr

    code, out, _ = run(capsys, "eval", "--model", handbook, file)
    assert code == 0
    rank = f"rank {miss['rank']}" if miss["rank"] else "not found"
    assert out.startswith(f"miss ({rank}): {LEAVE_QUESTION}\n  expected samples/handbook/benefits.txt; got {LEAVE}")
    assert out.count("miss (") == 1 and PASSWORD_QUESTION not in out


def test_a_partial_file_name_is_not_a_hit(handbook, capsys, tmp_path):
    file = write_cases(tmp_path / "partial.jsonl", {"question": LEAVE_QUESTION, "expected_source": "holidays.md"})
    code, out, _ = run(capsys, "eval", "--model", handbook, "--json", file)
    report = json.loads(out)
    assert code == 0 and report["recall_at_1"] == 0 and report["mrr"] == 0
    assert report["misses"][0]["rank"] is None


def test_an_unknown_model_is_an_error(in_repo, capsys):
    code, out, err = run(capsys, "eval", "--model", "never-trained", QUESTIONS)
    assert code == 1 and out == ""
    assert "never-trained" in only_error_line(err)


# --- the questions file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_line",
    [
        "{not json",
        '{"question": "Where is reception?"}',
        '["Where is reception?", "samples/handbook/onboarding.md"]',
        '"just a string"',
        '{"question": null, "expected_source": "samples/handbook/onboarding.md"}',
    ],
)
def test_a_malformed_line_is_an_error_naming_file_and_line(in_repo, capsys, tmp_path, bad_line):
    file = write_cases(
        tmp_path / "bad.jsonl",
        {"question": LEAVE_QUESTION, "expected_source": LEAVE},
        "",  # blank lines are skipped, but still counted
        bad_line,
    )
    code, out, err = run(capsys, "eval", "--model", "handbook", file)
    assert code == 1 and out == ""
    assert only_error_line(err) == f'error: {file}:3: expected {{"question", "expected_source"}}'


def test_only_null_expected_sources_is_an_error(in_repo, capsys, tmp_path):
    file = write_cases(
        tmp_path / "nulls.jsonl",
        {"question": "Am I allowed to bring my dog to the office?", "expected_source": None},
        {"question": "Is there a gym?", "expected_source": None},
    )
    code, out, err = run(capsys, "eval", "--model", "handbook", file)
    assert code == 1 and out == ""
    assert only_error_line(err) == f"error: {file}: no questions with an expected source"


def test_an_empty_file_is_an_error(in_repo, capsys, tmp_path):
    file = tmp_path / "empty.jsonl"
    file.write_text("\n\n", encoding="utf-8")
    code, _, err = run(capsys, "eval", "--model", "handbook", str(file))
    assert code == 1 and only_error_line(err) == f"error: {file}: no questions with an expected source"


@pytest.mark.parametrize("content", [None, b"\xff\xfe{}"])
def test_a_missing_or_undecodable_file_is_an_error(in_repo, capsys, tmp_path, content):
    file = tmp_path / "questions.jsonl"
    if content is not None:
        file.write_bytes(content)
    code, out, err = run(capsys, "eval", "--model", "handbook", str(file))
    assert code == 1 and out == ""
    assert only_error_line(err).startswith(f"error: {file}: cannot read it")


def test_load_cases_skips_null_sources_and_blank_lines(tmp_path):
    file = write_cases(
        tmp_path / "cases.jsonl",
        {"question": "上海办公室的午餐补贴是每天多少钱？", "expected_source": "shanghai-office-guide-zh.md"},
        "   ",
        {"question": "Dogs?", "expected_source": None},
        {"question": LEAVE_QUESTION, "expected_source": LEAVE, "note": "extra keys are ignored"},
    )
    assert load_cases(Path(file)) == [
        Case("上海办公室的午餐补贴是每天多少钱？", "shanghai-office-guide-zh.md"),
        Case(LEAVE_QUESTION, LEAVE),
    ]
    with pytest.raises(InvalidRequest):
        load_cases(Path(write_cases(tmp_path / "none.jsonl", {"question": "Dogs?", "expected_source": None})))


def test_evaluate_counts_ranks_beyond_k_in_mrr_only(handbook):
    from cdgpt.settings import get_settings

    cases = [Case(LEAVE_QUESTION, LEAVE), Case(LEAVE_QUESTION, "samples/handbook/benefits.txt")]
    report = evaluate(handbook, cases, k=1, settings=get_settings())
    assert report["recall_at_1"] == report["recall_at_k"] == 0.5
    rank = report["misses"][0]["rank"]
    assert rank is not None and rank > 1  # scored down to rank 10, though k is 1
    assert report["mrr"] == round((1 + 1 / rank) / 2, 4)


# --- matches() -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected", "result"),
    [
        (LEAVE, LEAVE, True),  # exact
        (LEAVE, "handbook/leave-and-holidays.md", True),  # suffix at a path boundary
        (LEAVE, "leave-and-holidays.md", True),
        (LEAVE, "/handbook/leave-and-holidays.md", True),  # a leading slash is not part of the suffix
        (LEAVE, "holidays.md", False),  # part of a file name
        ("docs/map.html", "ap.html", False),
        ("docs/map.html", "s/map.html", False),  # part of a folder name
        (LEAVE, "samples/handbook", False),  # a folder is not its files
        (LEAVE, "leave-and-holidays", False),  # no extension guessing
        (LEAVE, "samples/handbook/onboarding.md", False),
        ("https://example.com/docs/guide.html", "docs/guide.html", True),  # URL source, relative path
        ("https://example.com/docs/guide.html", "guide.html", True),
        ("https://example.com/docs/guide.html", "https://example.com/docs/guide.html", True),
        ("https://example.com/docs/guide.html", "example.com/docs/guide.html", True),
        ("https://example.com/docs/guide.html", "https://example.com/guide.html", False),
        ("https://example.com/docs/guide.html", "e.html", False),
        ("https://example.com/docs/", "https://example.com/docs/", True),  # a URL ending in a slash
        ("https://example.com/docs/", "docs", True),
        ("https://example.com/docs/", "", False),  # nothing expected matches nothing
        ("https://example.com/docs/", "/", False),
        ("s3://bucket/policies/leave.pdf", "policies/leave.pdf", True),
        (LEAVE, "SAMPLES/HANDBOOK/LEAVE-AND-HOLIDAYS.MD", False),  # case matters in paths
    ],
)
def test_matches(source, expected, result):
    assert matches(source, expected) is result
