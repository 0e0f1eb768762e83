"""The `cdgpt` command: in process through `cdgpt.local.cli.main`, and once as the venv's console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdgpt.answer.answering import EXTRACTIVE_LABEL, NOT_COVERED
from cdgpt.clients import reset_clients
from cdgpt.local.cli import main
from tests.support import REPO
from tests.support.fixtures_openai import openai_stub  # noqa: F401

HANDBOOK = "samples/handbook"
LEAVE_QUESTION = "How many days of paid annual leave does a full-time employee get per year?"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    reset_clients()  # each command reads the settings afresh, as a new process would
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The single `error: ...` line a failing command prints last on stderr."""
    lines = err.rstrip("\n").split("\n")
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]], err
    assert err.endswith("\n") and "\r" not in lines[-1]
    return lines[-1]


def test_train_then_chat(in_repo, capsys):
    code, out, _ = run(capsys, "train", "--model", "handbook", HANDBOOK)
    assert code == 0
    assert out.startswith("trained handbook v1: 9 documents, ") and " KB, docstore " in out

    code, out, err = run(capsys, "chat", "--model", "handbook", LEAVE_QUESTION)
    assert code == 0 and err == ""
    answer, _, sources = out.partition("\n\nSources:\n")
    assert answer.startswith(EXTRACTIVE_LABEL) and "25 days" in answer
    assert "  [1] Leave and Holidays Policy — samples/handbook/leave-and-holidays.md (score " in sources

    code, out, _ = run(capsys, "chat", "--model", "handbook", "--json", LEAVE_QUESTION)
    result = json.loads(out)
    assert code == 0 and result["answer_mode"] == "extractive" and result["model_version"] == 1
    assert result["history"] == [f"Human: {LEAVE_QUESTION}", f"Bot: {result['answer']}"]


def test_the_demo_question_is_answered_in_both_its_parts(in_repo, capsys):
    question = "How many days of annual leave do I get, and can I carry some over?"
    assert f'"{question}"' in (REPO / "Makefile").read_text()  # what `make demo` asks
    assert run(capsys, "train", "--model", "handbook", HANDBOOK)[0] == 0
    code, out, _ = run(capsys, "chat", "--model", "handbook", question)
    answer = out.partition("\n\nSources:\n")[0]
    assert code == 0 and "receive 25 days of paid annual leave" in answer and "carry up to 5 unused days" in answer


def test_uncovered_question_prints_no_sources(in_repo, capsys):
    assert run(capsys, "train", "--model", "handbook", f"{HANDBOOK}/remote-work.md")[0] == 0
    code, out, _ = run(capsys, "chat", "--model", "handbook", "Who won the 1998 FIFA World Cup final?")
    assert code == 0 and out == NOT_COVERED + "\n\nusage: embedding not counted (use-multilingual-v3-512)\n"


def test_skipped_sources_are_reported_and_training_succeeds(in_repo, capsys):
    code, out, err = run(capsys, "train", "--model", "handbook", f"{HANDBOOK}/benefits.txt", "../outside.txt")
    assert code == 0
    assert "skipped ../outside.txt: path '../outside.txt' is outside the source root (CDGPT_SOURCE_ROOT)\n" in err
    assert out.startswith("trained handbook v1: 1 documents, ")


def test_a_folders_skipped_documents_are_reported_with_their_reason(tmp_path, monkeypatch, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "leave.md").write_text("# Leave\n\nEveryone gets 25 days of annual leave.\n")
    (tmp_path / "docs" / "empty.md").write_text("")
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", str(tmp_path))
    code, out, err = run(capsys, "train", "--model", "docs", "docs")
    assert code == 0 and out.startswith("trained docs v1: 1 documents, ")
    assert "docs: 1 of 2 documents skipped (first: docs/empty.md: no text found)\n" in err


def test_the_working_folder_is_the_default_source_root(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("CDGPT_SOURCE_ROOT", "placeholder")
    monkeypatch.delenv("CDGPT_SOURCE_ROOT")  # unset now, and unset again after the test (main sets it)
    reset_clients()
    code, out, _ = run(capsys, "train", "--model", "handbook", f"{HANDBOOK}/onboarding.md")
    assert code == 0 and out.startswith("trained handbook v1: 1 documents")
    assert os.environ["CDGPT_SOURCE_ROOT"] == str(REPO)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chat", "--model", "nope", "Hello?"], "error: model 'nope' has not been trained"),
        (["chat", "--model", "../etc", "Hello?"], "error: model_name must be 1-64 letters"),
        (["chat", "--model", "handbook", "   "], "error: question must be a non-empty string"),
        (
            ["train", "--model", "handbook", "../outside.txt"],
            "error: no source could be used (../outside.txt: path '../outside.txt' is outside the source root (CDGPT_SOURCE_ROOT))",
        ),
        (
            ["train", "--model", "handbook", "ftp://example.com/a.txt", "http://127.0.0.1/x"],
            "error: no source could be used (ftp://example.com/a.txt: unsupported scheme 'ftp'",
        ),
    ],
    ids=["unknown-model", "bad-model-name", "blank-question", "refused-path", "refused-urls"],
)
def test_failures_exit_non_zero_with_one_error_line(in_repo, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert error_line(err).startswith(message)


@pytest.mark.parametrize("command", ["openapi", "serve"])
def test_the_template_must_be_found(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)  # outside the project folder
    code, out, err = run(capsys, command)
    assert code == 1 and out == ""
    assert error_line(err) == "error: no template at template.yaml; run from the project folder or pass --template"


def test_invalid_settings_exit_2_with_one_error_line(in_repo, capsys, monkeypatch):
    monkeypatch.setenv("CDGPT_TOP_K", "0")
    reset_clients()
    code, out, err = run(capsys, "chat", "--model", "handbook", "Hello?")
    assert code == 2 and out == ""
    line = error_line(err)
    assert "CDGPT_TOP_K" in line and len(err.splitlines()) == 1


def test_upstream_failure_is_one_error_line(in_repo, capsys, openai_stub):
    assert run(capsys, "train", "--model", "handbook", f"{HANDBOOK}/remote-work.md")[0] == 0
    openai_stub.fail_next(503, times=10, path="/v1/chat/completions")
    code, out, err = run(capsys, "chat", "--model", "handbook", "Which day do hybrid workers have to be in the office?")
    assert code == 1 and out == ""
    assert error_line(err) == "error: the language model answered HTTP 503 after retries"
    assert "test-key" not in err


def test_console_script_train_chat_and_failure(tmp_path):
    script = Path(sys.executable).parent / "cdgpt"
    assert script.is_file(), "the package's console script is not installed in this venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDGPT_", "OPENAI_", "ARTIFACTS_BUCKET"))}
    env["CDGPT_DATA_DIR"] = str(tmp_path / "data")

    def cdgpt(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    trained = cdgpt("train", "--model", "handbook", HANDBOOK)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("trained handbook v1: 9 documents")
    assert (tmp_path / "data/models/handbook/manifest.json").is_file()

    chatted = cdgpt("chat", "--model", "handbook", LEAVE_QUESTION)
    assert chatted.returncode == 0, chatted.stderr
    assert chatted.stdout.startswith(EXTRACTIVE_LABEL)
    assert "\nSources:\n  [1] " in chatted.stdout and "samples/handbook/leave-and-holidays.md" in chatted.stdout

    read, write = os.pipe()
    os.close(read)  # a reader that has gone away, as `| head` does once it has its lines
    piped = subprocess.run(
        [str(script), "chat", "--model", "handbook", LEAVE_QUESTION],
        cwd=REPO,
        env=env,
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(write)
    assert piped.returncode == 1 and piped.stderr == ""  # no traceback

    failed = cdgpt("chat", "--model", "missing", "Hello?")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr == "error: model 'missing' has not been trained\n"


def test_models_jobs_sources_and_delete_from_the_command_line(in_repo, capsys):
    # Given a model trained on one file
    assert run(capsys, "train", "--model", "handbook", f"{HANDBOOK}/leave-and-holidays.md")[0] == 0
    # When a source is added, only its text is embedded and the model lists both
    code, out, _ = run(capsys, "sources", "--model", "handbook", "--add", f"{HANDBOOK}/remote-work.md")
    assert code == 0 and out.startswith("trained handbook v2: 2 documents, ")
    code, out, _ = run(capsys, "models")
    assert code == 0 and out.split()[:3] == ["handbook", "ready", "v2"]
    code, out, _ = run(capsys, "models", "handbook", "--json")
    detail = json.loads(out)
    assert [s["entry"] for s in detail["sources"]] == [
        f"{HANDBOOK}/leave-and-holidays.md",
        f"{HANDBOOK}/remote-work.md",
    ]
    # Then the jobs that did it are listed, newest first, and one can be shown
    code, out, _ = run(capsys, "jobs", "--json")
    jobs = json.loads(out)
    assert [j["kind"] for j in jobs] == ["sources", "train"] and all(j["status"] == "succeeded" for j in jobs)
    code, out, _ = run(capsys, "jobs", jobs[0]["job_id"])
    assert code == 0 and out.startswith(jobs[0]["job_id"]) and "succeeded" in out
    code, out, _ = run(capsys, "jobs", jobs[0]["job_id"], "--json")
    assert code == 0 and json.loads(out) == jobs[0]  # one job is an object
    code, out, _ = run(capsys, "jobs")
    assert out.split()[:6] == ["job", "kind", "model", "status", "stage", "progress"]
    # And removing an unknown source, or deleting twice, is a clear error
    code, _, err = run(capsys, "sources", "--model", "handbook", "--remove", "samples/nope.md")
    assert code == 1 and error_line(err) == "error: not a source of model 'handbook': samples/nope.md"
    code, out, _ = run(capsys, "delete", "handbook")
    assert code == 0 and out == "deleted handbook (8 files)\n"
    code, _, err = run(capsys, "delete", "handbook")
    assert code == 1 and error_line(err) == "error: model 'handbook' was deleted"
    assert run(capsys, "models")[1] == ""


def test_a_model_already_training_is_not_trained_twice(in_repo, capsys):
    from cdgpt import operations
    from cdgpt.training.jobs import JobRequest

    running = operations.start_job(JobRequest(kind="train", model_name="handbook", file_list=[HANDBOOK]), run=False).job
    code, _, err = run(capsys, "train", "--model", "handbook", HANDBOOK)
    assert code == 1 and running.job_id in error_line(err) and "already being trained" in err


def test_models_are_managed_from_the_command_line_in_s3_too(in_repo, capsys, monkeypatch):
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="cli-artifacts")
        monkeypatch.setenv("ARTIFACTS_BUCKET", "cli-artifacts")
        reset_clients()
        assert run(capsys, "train", "--model", "handbook", f"{HANDBOOK}/leave-and-holidays.md")[0] == 0
        code, out, _ = run(capsys, "sources", "--model", "handbook", "--add", f"{HANDBOOK}/benefits.txt")
        assert code == 0 and out.startswith("trained handbook v2: 2 documents")
        assert run(capsys, "models")[1].split()[:3] == ["handbook", "ready", "v2"]
        assert [j["kind"] for j in json.loads(run(capsys, "jobs", "--json")[1])] == ["sources", "train"]
        assert run(capsys, "delete", "handbook")[1].startswith("deleted handbook (")
        keys = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="cli-artifacts", Prefix="models/")
        assert [k["Key"] for k in keys.get("Contents", [])] == ["models/handbook/manifest.json"]  # the tombstone


# -- keys -------------------------------------------------------------------------------------------


def test_keys_create_prints_the_key_once_list_hides_it_revoke_marks_it(capsys):
    assert (
        main(["keys", "create", "--role", "train", "--models", "hr-*,finance", "--models", "legal", "--rate", "30"])
        == 0
    )
    out = capsys.readouterr()
    key = out.out.strip()
    key_id, secret = key.split("_")[1:]
    assert out.err.startswith(f"created key {key_id} (train on hr-*, finance, legal, 30/min)")
    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["key_id"], k["role"], k["models"], k["rate_per_minute"], k["revoked_at"]) for k in listed] == [
        (key_id, "train", ["hr-*", "finance", "legal"], 30, None)
    ]
    assert secret not in json.dumps(listed) and "hash" not in listed[0]
    assert main(["keys", "revoke", key_id]) == 0
    assert main(["keys", "list"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith(f"{key_id}  train") and "revoked" in line and secret not in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "--role", "chat", "--models", "../etc"], "not a model name, a prefix ending in * or *"),
        (["keys", "create", "--role", "chat", "--models", "a", "--rate", "0"], "at least 1 request a minute"),
        (["keys", "revoke", "0123456789ab"], "no API key '0123456789ab'"),
    ],
)
def test_keys_refuses_bad_input_clearly(capsys, argv, message):
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_a_data_folder_that_cannot_be_written_is_one_error_line_not_a_traceback(in_repo, monkeypatch, capsys):
    from cdgpt import operations

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", ".cdgpt/counters.sqlite3.lock")

    monkeypatch.setattr(operations, "list_models", read_only)
    assert main(["models"]) == 1
    assert capsys.readouterr().err == "error: Permission denied: .cdgpt/counters.sqlite3.lock\n"
