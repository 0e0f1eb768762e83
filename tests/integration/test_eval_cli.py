"""`cdgpt eval`: retrieval quality on questions with known sources, and its input checks."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from cdgpt.answer.evaluation import Case, evaluate, load_cases, load_files, matches, split_of
from cdgpt.clients import reset_clients
from cdgpt.errors import InvalidRequest
from cdgpt.local.cli import main
from tests.support import REPO

QUESTIONS = "samples/questions.jsonl"
LEAVE = "samples/handbook/leave-and-holidays.md"
LEAVE_QUESTION = "How many days of paid annual leave does a full-time employee get per year?"
PASSWORD_QUESTION = "What is the minimum length of a Brightwheel password?"
SUMMARY = re.compile(
    r"^handbook: (\d+) questions  R@1 (\d\.\d{3})  R@(\d+) (\d\.\d{3})  MRR (\d\.\d{3})  refused (\d\.\d{3})"
    r"(?:  off-topic (\d+): not covered (\d\.\d{3}))?$"
)
REPORT_KEYS = {
    "model_name", "questions", "k", "recall_at_1", "recall_at_k", "mrr", "wrongly_refused",
    "off_topic_questions", "not_covered", "misses", "answers", "questions_with_facts", "facts_quoted", "fact_misses",
}  # fmt: skip


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


def questions_of(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the command -----------------------------------------------------------------------------------


def test_eval_prints_recall_and_mrr(handbook, capsys):
    code, out, err = run(capsys, "eval", "--model", handbook, QUESTIONS)
    assert code == 0 and err == ""
    summary = out.rstrip("\n").split("\n")[-1]
    match = SUMMARY.match(summary)
    assert match, summary
    questions, r1, k, rk, mrr, refused, off_topic, not_covered = match.groups()
    assert int(questions) == questions_with_a_source() == 16  # the null-source question is off-topic
    assert k == "4"  # chat's CDGPT_TOP_K
    r1, rk, mrr = float(r1), float(rk), float(mrr)
    assert all(0 <= value <= 1 for value in (r1, rk, mrr))
    assert r1 <= rk and r1 <= mrr
    assert r1 >= 0.9 and mrr >= 0.9  # the sample questions are answerable from the handbook
    assert float(refused) == 0.0
    assert off_topic == "1" and float(not_covered) == 1.0  # "Am I allowed to bring my dog to the office?"
    assert out.count("miss (") == round((1 - r1) * int(questions))


def test_eval_json_report(handbook, capsys):
    code, out, _ = run(capsys, "eval", "--model", handbook, "--json", "--k", "2", QUESTIONS)
    assert code == 0
    report = json.loads(out)
    assert set(report) == REPORT_KEYS
    assert report["model_name"] == "handbook" and report["questions"] == 16 and report["k"] == 2
    for key in ("recall_at_1", "recall_at_k", "mrr"):
        assert isinstance(report[key], float) and 0 <= report[key] <= 1
    assert report["recall_at_1"] <= report["recall_at_k"]
    assert len(report["misses"]) == round((1 - report["recall_at_1"]) * 16)

    code, text, _ = run(capsys, "eval", "--model", handbook, "--k", "2", QUESTIONS)
    numbers = SUMMARY.match(text.rstrip("\n").split("\n")[-1]).groups()
    assert numbers == (
        "16",
        f"{report['recall_at_1']:.3f}",
        "2",
        f"{report['recall_at_k']:.3f}",
        f"{report['mrr']:.3f}",
        f"{report['wrongly_refused']:.3f}",
        "1",
        f"{report['not_covered']:.3f}",
    )
    assert [a["question"] for a in report["answers"]] == [q["question"] for q in questions_of(REPO / QUESTIONS)]
    assert all(len(a["sources"]) <= 2 for a in report["answers"])


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
    assert miss["got"] == report["answers"][0]["sources"] and miss["got"][0] == LEAVE  # every source chat lists
    assert miss["rank"] is None or 2 <= miss["rank"] <= 4  # among the 4 sources chat lists
    assert miss["not_covered"] is False
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


def test_off_topic_questions_alone_report_the_not_covered_rate(handbook, capsys, tmp_path):
    file = write_cases(
        tmp_path / "nulls.jsonl",
        {"question": "Am I allowed to bring my dog to the office?", "expected_source": None},
        {"question": "Who won the 1998 FIFA World Cup final?", "expected_source": None},
    )
    code, out, err = run(capsys, "eval", "--model", handbook, file)
    assert code == 0 and err == ""
    assert out == "handbook: 0 questions  off-topic 2: not covered 1.000\n"
    code, out, _ = run(capsys, "eval", "--model", handbook, "--json", file)
    report = json.loads(out)
    assert report["questions"] == 0 and report["recall_at_1"] is None and report["wrongly_refused"] is None
    assert report["off_topic_questions"] == 2 and report["not_covered"] == 1.0
    assert [a["sources"] for a in report["answers"]] == [[], []]


def test_expected_facts_are_checked_in_the_extractive_answer_chat_gives(handbook, capsys, tmp_path):
    # Given a question whose answer the handbook quotes, and one fact it never says
    file = write_cases(
        tmp_path / "facts.jsonl",
        {"question": LEAVE_QUESTION, "expected_source": LEAVE, "expected_facts": ["25  DAYS"]},
        {"question": PASSWORD_QUESTION, "expected_source": "it-and-security.html", "expected_facts": ["9 characters"]},
        {"question": "Who won the 1998 FIFA World Cup final?", "expected_source": None},
    )
    # When they are evaluated
    code, out, err = run(capsys, "eval", "--model", handbook, file)
    # Then the fact found (case and spacing aside) counts, and the missing one is listed with its question
    assert code == 0 and err == ""
    assert f"answer misses '9 characters': {PASSWORD_QUESTION}\n" in out
    assert out.rstrip("\n").endswith("facts quoted 0.500 of 2  off-topic 1: not covered 1.000")
    report = json.loads(run(capsys, "eval", "--model", handbook, "--json", file)[1])
    assert report["questions_with_facts"] == 2 and report["facts_quoted"] == 0.5
    (miss,) = report["fact_misses"]
    # And the answer checked is the one chat gives
    from cdgpt.answer.answering import chat

    assert miss["answer"] == chat(handbook, PASSWORD_QUESTION)["answer"] and "14 characters" in miss["answer"]


@pytest.mark.parametrize("facts", ['"25 days"', '["25 days", ""]', "[25]"])
def test_expected_facts_must_be_a_list_of_strings(in_repo, capsys, tmp_path, facts):
    file = write_cases(
        tmp_path / "bad.jsonl", f'{{"question": "Q?", "expected_source": "a.md", "expected_facts": {facts}}}'
    )
    code, _, err = run(capsys, "eval", "--model", "handbook", file)
    assert code == 1 and only_error_line(err) == f"error: {file}:1: expected_facts must be a list of non-empty strings"


def test_an_empty_file_is_an_error(in_repo, capsys, tmp_path):
    file = tmp_path / "empty.jsonl"
    file.write_text("\n\n", encoding="utf-8")
    code, _, err = run(capsys, "eval", "--model", "handbook", str(file))
    assert code == 1 and only_error_line(err) == f"error: {file}: no questions"


def test_the_split_is_a_fixed_half_by_question(in_repo, capsys, tmp_path):
    cases = load_cases(REPO / QUESTIONS)
    dev, test = load_cases(REPO / QUESTIONS, "dev"), load_cases(REPO / QUESTIONS, "test")
    assert sorted(dev + test, key=cases.index) == cases and not set(dev) & set(test)
    assert all(split_of(c.question) == "dev" for c in dev) and all(split_of(c.question) == "test" for c in test)
    digest = hashlib.sha256(LEAVE_QUESTION.encode()).digest()[0]
    assert split_of(LEAVE_QUESTION) == ("dev" if digest < 128 else "test")
    only = write_cases(tmp_path / "one.jsonl", {"question": LEAVE_QUESTION, "expected_source": LEAVE})
    other = "test" if split_of(LEAVE_QUESTION) == "dev" else "dev"
    code, _, err = run(capsys, "eval", "--model", "handbook", "--split", other, only)
    assert code == 1 and only_error_line(err) == f"error: no questions in the {other} split of {only}"
    # a file with none of the half beside one with some is no error; a question's spacing keeps its half
    spaced = write_cases(tmp_path / "two.jsonl", {"question": f" {LEAVE_QUESTION} ", "expected_source": LEAVE})
    assert [c.question for c in load_cases(Path(spaced), split_of(LEAVE_QUESTION))] == [LEAVE_QUESTION]
    assert load_files([Path(only), REPO / QUESTIONS], other) == load_cases(REPO / QUESTIONS, other)


def test_lines_are_read_as_json_lines_and_questions_as_chat_reads_them(in_repo, capsys, tmp_path):
    """A line holding U+2028 (which json.dumps leaves as it is) is one line; a byte-order mark is none of
    the first; a question chat would refuse is an error naming its line."""
    file = tmp_path / "odd.jsonl"
    file.write_text(
        "\ufeff" + json.dumps({"question": "Leave\u2028days?", "expected_source": None}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    assert load_cases(file) == [Case("Leave\u2028days?", None)]
    long = write_cases(tmp_path / "long.jsonl", {"question": "x" * 4001, "expected_source": None})
    code, _, err = run(capsys, "eval", "--model", "handbook", long)
    assert code == 1 and only_error_line(err) == f"error: {long}:1: question is longer than 4000 characters"


def test_several_files_are_one_report(handbook, capsys, tmp_path):
    answerable = write_cases(tmp_path / "a.jsonl", {"question": LEAVE_QUESTION, "expected_source": LEAVE})
    off_topic = write_cases(tmp_path / "b.jsonl", {"question": "Is there a gym?", "expected_source": None})
    code, out, _ = run(capsys, "eval", "--model", handbook, "--json", answerable, off_topic)
    report = json.loads(out)
    assert code == 0 and report["questions"] == 1 and report["off_topic_questions"] == 1


@pytest.mark.parametrize("k", ["0", "51", "-1"])
def test_k_out_of_range_is_an_error(handbook, capsys, k):
    code, out, err = run(capsys, "eval", "--model", handbook, "--k", k, QUESTIONS)
    assert code == 1 and out == "" and only_error_line(err) == "error: k must be between 1 and 50"


@pytest.mark.parametrize(("content", "reason"), [(None, "no such file"), (b"\xff\xfe{}", "cannot read it as UTF-8")])
def test_a_missing_or_undecodable_file_is_an_error(in_repo, capsys, tmp_path, content, reason):
    file = tmp_path / "questions.jsonl"
    if content is not None:
        file.write_bytes(content)
    code, out, err = run(capsys, "eval", "--model", "handbook", str(file))
    assert code == 1 and out == ""
    assert only_error_line(err).startswith(f"error: {file}: {reason}")


def test_load_cases_keeps_null_sources_as_off_topic_and_skips_blank_lines(tmp_path):
    file = write_cases(
        tmp_path / "cases.jsonl",
        {"question": "上海办公室的午餐补贴是每天多少钱？", "expected_source": "shanghai-office-guide-zh.md"},
        "   ",
        {"question": "Dogs?", "expected_source": None},
        {"question": LEAVE_QUESTION, "expected_source": LEAVE, "note": "extra keys are ignored"},
    )
    assert load_cases(Path(file)) == [
        Case("上海办公室的午餐补贴是每天多少钱？", "shanghai-office-guide-zh.md"),
        Case("Dogs?", None),
        Case(LEAVE_QUESTION, LEAVE),
    ]
    with pytest.raises(InvalidRequest):
        load_cases(Path(write_cases(tmp_path / "none.jsonl", "", "  ")))


def test_evaluate_scores_only_the_k_sources_chat_lists(handbook):
    from cdgpt.settings import get_settings

    cases = [Case(LEAVE_QUESTION, LEAVE), Case(LEAVE_QUESTION, "samples/handbook/benefits.txt")]
    report = evaluate(handbook, cases, k=1, settings=get_settings())
    assert report["recall_at_1"] == report["recall_at_k"] == 0.5
    assert report["misses"][0]["rank"] is None  # second or lower: not among the 1 source listed
    assert report["mrr"] == 0.5


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


def test_the_facts_are_scored_on_the_answer_chat_gives_whatever_k_is_measured(handbook):
    """The extractive answer is built from chat's own k sources: --k 1 scored fewer facts (5 of 45 cases)."""
    cases = load_cases(REPO / "benchmarks/eval/answers-handbook.jsonl")
    assert evaluate(handbook, cases, k=1)["facts_quoted"] == evaluate(handbook, cases)["facts_quoted"]
