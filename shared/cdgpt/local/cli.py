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


def _progress_bars():
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, advance: int, total: int) -> None:
        if stage not in bars:
            for done in bars.values():  # stages run one after another
                done.close()
            bars[stage] = tqdm(total=total, desc=stage, unit="item", file=sys.stderr, leave=True)
        bars[stage].update(advance)

    return progress, bars


def cmd_train(args: argparse.Namespace) -> int:
    from cdgpt.training.pipeline import train

    options = {"max_pages": args.max_pages, "max_depth": args.max_depth, "scope": args.scope}
    entries = [*args.sources, *({"url": url, "crawl": options} for url in args.crawl)]
    if not entries:
        print("error: name at least one source, or a site with --crawl", file=sys.stderr)
        return 2
    progress, bars = _progress_bars()
    try:
        result = train(args.model, entries, prompt=args.prompt, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    failed = [s for s in result["sources"] if s["status"] == "failed"]
    for source in failed:
        entry = source["entry"] if isinstance(source["entry"], str) else source["entry"]["url"]
        print(f"skipped {entry}: {source['reason']}", file=sys.stderr)
    print(
        f"trained {result['model_name']} v{result['version']}: {result['documents']} documents, "
        f"{result['chunks']} chunks, index {result['index_model_size']} KB, docstore {result['pkl_model_size']} KB"
        + (
            f"; {result['documents_unchanged']} documents unchanged, not read again"
            if result["documents_unchanged"]
            else ""
        )
    )
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from cdgpt.answer.answering import chat

    result = chat(args.model, args.question)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    print(result["answer"])
    if result["sources"]:
        print("\nSources:")
        for n, source in enumerate(result["sources"], start=1):
            where = source["url"] or source["source"]
            page = f", page {source['page']}" if source["page"] else ""
            print(f"  [{n}] {source['title']} — {where}{page} (score {source['score']})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cdgpt.answer.evaluation import evaluate, load_cases

    report = evaluate(args.model, load_cases(Path(args.file)), k=args.k)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    for miss in report["misses"]:
        rank = f"rank {miss['rank']}" if miss["rank"] else "not found"
        print(f"miss ({rank}): {miss['question']}\n  expected {miss['expected']}; got {', '.join(miss['got'])}")
    print(
        f"{report['model_name']}: {report['questions']} questions  R@1 {report['recall_at_1']:.3f}  "
        f"R@{report['k']} {report['recall_at_k']:.3f}  MRR {report['mrr']:.3f}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dotenv import load_dotenv

    load_dotenv(".env", override=False)  # a local API_SECRET, for instance
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from cdgpt.local.server import make_server, template_routes
    from cdgpt.settings import get_settings

    template = Path(args.template)
    if not template.is_file():
        raise CdgptError(f"no template at {template}; run from the project folder or pass --template")
    server = make_server(template, args.host, args.port)
    host, port = server.server_address[:2]
    routes = ", ".join(f"{r.method} {r.path}" for r in template_routes(template))
    print(f"serving {routes} on http://{host!s}:{port}", file=sys.stderr, flush=True)
    if not (get_settings().api_secret or get_settings().api_secret_param):
        print("warning: no API_SECRET set, so every request will be refused", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cdgpt.local.server import openapi_document

    print(json.dumps(openapi_document(Path(args.template)), indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdgpt", description="Chat with your company's documents.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train (or retrain) a model on sources")
    train.add_argument("--model", required=True, help="model name")
    train.add_argument("--prompt", help="system prompt for answers from this model")
    train.add_argument("sources", nargs="*", help="URLs, sitemaps, s3:// URIs or paths under the source root")
    train.add_argument("--crawl", action="append", default=[], metavar="URL", help="crawl a site from this page")
    train.add_argument("--max-pages", type=int, default=100, help="pages one crawl fetches at most (default 100)")
    train.add_argument("--max-depth", type=int, default=3, help="links a crawl follows from its start (default 3)")
    train.add_argument(
        "--scope", choices=["path", "site"], default="path", help="crawl under the start's folder or the whole host"
    )
    train.set_defaults(func=cmd_train)

    chat = commands.add_parser("chat", help="ask a trained model a question")
    chat.add_argument("--model", required=True, help="model name")
    chat.add_argument("--json", action="store_true", help="print the whole result as JSON")
    chat.add_argument("question")
    chat.set_defaults(func=cmd_chat)

    evaluation = commands.add_parser("eval", help="measure retrieval on questions with known sources")
    evaluation.add_argument("--model", required=True, help="model name")
    evaluation.add_argument("--k", type=int, default=4, help="the k of recall at k (default 4)")
    evaluation.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluation.add_argument("file", help='JSON lines: {"question": ..., "expected_source": ...}')
    evaluation.set_defaults(func=cmd_eval)

    serve = commands.add_parser("serve", help="serve the template's API routes locally (no Docker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--template", default="template.yaml")
    serve.set_defaults(func=cmd_serve)

    openapi = commands.add_parser("openapi", help="print the API's OpenAPI document, generated from the handlers")
    openapi.add_argument("--template", default="template.yaml")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "train":  # the user's own files: the working folder is the default root
        os.environ.setdefault("CDGPT_SOURCE_ROOT", str(Path.cwd()))
    try:
        return args.func(args)
    except CdgptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # invalid settings
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
