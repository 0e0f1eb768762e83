"""`cdgpt`: train a model, chat with it, serve the API locally."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cdgpt.errors import CdgptError
from cdgpt.local.keys import register as register_keys
from cdgpt.local.manage import positive_int, register
from cdgpt.local.server import MAX_WORKERS, READ_TIMEOUT_S


def cmd_chat(args: argparse.Namespace) -> int:
    from cdgpt.answer.answering import chat

    if args.json:
        print(json.dumps(chat(args.model, args.question), ensure_ascii=False, indent=1))
        return 0

    def write(piece: str) -> None:  # the answer streams to the terminal as it is written
        sys.stdout.write(piece)
        sys.stdout.flush()

    result = chat(args.model, args.question, on_token=write)
    print()
    if result["sources"]:
        print("\nSources:")
        for n, source in enumerate(result["sources"], start=1):
            where = source["url"] or source["source"]
            page = f", page {source['page']}" if source["page"] else ""
            print(f"  [{n}] {source['title']} — {where}{page} (score {source['score']})")
    print(f"\n{usage_line(result['usage'])}")
    return 0


def usage_line(usage: dict) -> str:
    embedded = "not counted" if usage["embedding_tokens"] is None else f"{usage['embedding_tokens']} tokens"
    line = f"usage: embedding {embedded} ({usage['embedding_model']})"
    if usage["llm_model"]:
        line += (
            f"; {usage['llm_model']}: {usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens"
        )
    return line


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cdgpt.answer.evaluation import evaluate, load_files

    cases = load_files([Path(file) for file in args.file], args.split)
    report = evaluate(args.model, cases, k=args.k)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    for miss in report["misses"]:
        rank = "not covered" if miss["not_covered"] else f"rank {miss['rank']}" if miss["rank"] else "not found"
        print(f"miss ({rank}): {miss['question']}\n  expected {miss['expected']}; got {', '.join(miss['got'])}")
    for miss in report["fact_misses"]:
        print(f"answer misses {', '.join(map(repr, miss['missing']))}: {miss['question']}")
    line = f"{report['model_name']}: {report['questions']} questions"
    if report["questions"]:
        line += (
            f"  R@1 {report['recall_at_1']:.3f}  R@{report['k']} {report['recall_at_k']:.3f}  MRR {report['mrr']:.3f}"
            f"  refused {report['wrongly_refused']:.3f}"
        )
    if report["questions_with_facts"]:
        line += f"  facts quoted {report['facts_quoted']:.3f} of {report['questions_with_facts']}"
    if report["off_topic_questions"]:
        line += f"  off-topic {report['off_topic_questions']}: not covered {report['not_covered']:.3f}"
    print(line)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dotenv import load_dotenv

    template = _template(args.template)  # before the environment is set for serving
    load_dotenv(".env", override=False)  # a local API_SECRET, for instance
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("CDGPT_JOB_RUNNER", "process")  # a training job runs in a process of its own
    from cdgpt.local.server import serve
    from cdgpt.settings import get_settings

    if not (get_settings().api_secret or get_settings().api_secret_param):
        print("warning: no API_SECRET set: only API keys (cdgpt keys create) are accepted", file=sys.stderr)
    serve(
        template.resolve(),
        args.host,
        args.port,
        workers=args.workers,
        max_workers=args.max_workers,
        read_timeout=args.read_timeout,
    )
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from cdgpt.local.server import openapi_document

    print(json.dumps(openapi_document(_template(args.template)), indent=1))
    return 0


def _template(path: str) -> Path:
    """The SAM template whose routes `serve` and `openapi` read."""
    template = Path(path)
    if not template.is_file():
        raise CdgptError(f"no template at {template}; run from the project folder or pass --template")
    return template


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdgpt", description="Chat with your company's documents.")
    commands = parser.add_subparsers(dest="command", required=True)

    register(commands)
    register_keys(commands)

    chat = commands.add_parser("chat", help="ask a trained model a question")
    chat.add_argument("--model", required=True, help="model name")
    chat.add_argument("--json", action="store_true", help="print the whole result as JSON")
    chat.add_argument("question")
    chat.set_defaults(func=cmd_chat)

    evaluation = commands.add_parser("eval", help="measure what chat returns on questions with known sources")
    evaluation.add_argument("--model", required=True, help="model name")
    evaluation.add_argument("--k", type=int, help="sources listed per question (default: chat's, CDGPT_TOP_K)")
    evaluation.add_argument("--split", choices=["dev", "test"], help="only this half of the questions")
    evaluation.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluation.add_argument(
        "file", nargs="+", help='JSON lines: {"question": ..., "expected_source": ... or null when off-topic}'
    )
    evaluation.set_defaults(func=cmd_eval)

    serve = commands.add_parser("serve", help="serve the template's API routes locally (no Docker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--template", default="template.yaml")
    serve.add_argument(
        "--workers", type=positive_int, default=1, help="processes per function, each taking one request at a time"
    )
    serve.add_argument(
        "--max-workers",
        type=positive_int,
        default=MAX_WORKERS,
        help=f"more processes per function started while requests overlap (default {MAX_WORKERS})",
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=READ_TIMEOUT_S,
        help=f"seconds for a request's head or body to arrive (default {READ_TIMEOUT_S:g})",
    )
    serve.set_defaults(func=cmd_serve)

    openapi = commands.add_parser("openapi", help="print the API's OpenAPI document, generated from the handlers")
    openapi.add_argument("--template", default="template.yaml")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command in ("train", "sources"):  # the user's own files: the working folder is the default root
        os.environ.setdefault("CDGPT_SOURCE_ROOT", str(Path.cwd()))
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader gone away is found here, not at exit
        return code
    except BrokenPipeError:  # `cdgpt chat ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left unwritten goes nowhere
        return 1
    except CdgptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # invalid settings
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # a data folder that cannot be written (read-only, full, not ours)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: a training was failed with why before this
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
