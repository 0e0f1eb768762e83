"""`cdgpt train | sources | models | jobs | delete`: training jobs and models from the command line.

Jobs started here run in this process (with progress bars), through the same job records as the API,
so a model that is training under `cdgpt serve` is not trained twice.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cdgpt.training.jobs import Job, JobRequest


def _progress_bars() -> tuple[Any, dict[str, Any]]:
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, advance: int, total: int) -> None:
        if stage not in bars:
            for done in bars.values():  # stages run one after another
                done.close()
            bars[stage] = tqdm(total=total, desc=stage, unit="item", file=sys.stderr, leave=True)
        bars[stage].update(advance)

    return progress, bars


def _run_here(request: JobRequest) -> int:
    """Start the job and run it in this process; print the outcome."""
    from cdgpt import operations
    from cdgpt.api.contract import job_error
    from cdgpt.ingest.sources.entries import entry_label
    from cdgpt.training.worker import run_job

    started = operations.start_job(request, run=False)
    if not started.created:
        job = started.job
        print(
            f"error: model {job.model_name!r} is already being trained by job {job.job_id} ({job.status}); see `cdgpt jobs {job.job_id}`",
            file=sys.stderr,
        )
        return 1
    progress, bars = _progress_bars()
    try:
        finished = run_job(started.job.job_id, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    if finished is None or finished.status != "succeeded" or finished.result is None:
        if finished is not None and finished.failure is not None:
            raise job_error(finished)
        print("error: the job could not be run", file=sys.stderr)
        return 1
    outcome = finished.result
    for source in outcome.sources:
        if source.status == "failed":
            print(f"skipped {entry_label(source.entry)}: {source.reason}", file=sys.stderr)
        elif source.reason:  # a folder's, a site's or a prefix's documents skipped or kept
            print(f"{entry_label(source.entry)}: {source.reason}", file=sys.stderr)
    kb = {name: round(size / 1024, 1) for name, size in outcome.sizes.items()}
    unchanged = (
        f"; {outcome.documents_unchanged} documents unchanged, not read again" if outcome.documents_unchanged else ""
    )
    print(
        f"trained {outcome.model_name} v{outcome.version}: {outcome.documents} documents, {outcome.chunks} chunks "
        f"({outcome.chunks_embedded} embedded), index {kb.get('index')} KB, docstore {kb.get('docstore')} KB{unchanged}"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from cdgpt.ingest.sources.entries import parse_entry
    from cdgpt.training.jobs import JobRequest

    options = {"max_pages": args.max_pages, "max_depth": args.max_depth, "scope": args.scope}
    entries = [*args.sources, *(parse_entry({"url": url, "crawl": options}) for url in args.crawl)]
    if not entries:
        print("error: name at least one source, or a site with --crawl", file=sys.stderr)
        return 2
    return _run_here(
        JobRequest(kind="train", model_name=args.model, file_list=entries, prompt=args.prompt, origin="cli")
    )


def cmd_sources(args: argparse.Namespace) -> int:
    from cdgpt.training.jobs import JobRequest

    return _run_here(JobRequest(kind="sources", model_name=args.model, add=args.add, remove=args.remove, origin="cli"))


def cmd_models(args: argparse.Namespace) -> int:
    from cdgpt import operations
    from cdgpt.ingest.sources.entries import entry_label

    if args.model:
        detail = operations.describe_model(args.model)
        if args.json:
            print(detail.model_dump_json(indent=1))
            return 0
        if detail.status == "damaged":
            print(f"{detail.model_name}: damaged: {detail.problem} (train it again on its sources to repair it)")
        else:
            print(
                f"{detail.model_name}: {detail.status} v{detail.version} ({detail.created_at}), "
                f"{detail.documents} documents, {detail.chunks} chunks"
            )
        if detail.training_job:
            print(f"training now: job {detail.training_job}")
        for source in detail.sources:
            reason = f"  ({source.reason})" if source.reason else ""
            print(f"  {source.status:6} {entry_label(source.entry)}{reason}")
        return 0
    summaries = operations.list_models()
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], ensure_ascii=False, indent=1))
        return 0
    for s in summaries:
        embedding = f"{s.embedding.provider}/{s.embedding.model}" if s.embedding else "-"
        training = f"  training: {s.training_job}" if s.training_job else ""
        print(
            f"{s.model_name:24} {s.status:8} v{s.version or '-':<4} {s.documents or 0:>6} docs {s.chunks or 0:>7} chunks  {embedding}{training}"
        )
    if not summaries:
        print("no models yet: cdgpt train --model NAME SOURCES...", file=sys.stderr)
    return 0


def _job_line(job: Job) -> str:
    p = job.progress
    done = f"docs {p.documents_done}/{p.documents_total}, chunks {p.chunks_embedded}/{p.chunks_total}"
    reason = f"  {job.failure.message}" if job.failure else ""
    return f"{job.job_id}  {job.kind:8} {job.model_name:24} {job.status:9} {p.stage:10} {done}{reason}"


def cmd_jobs(args: argparse.Namespace) -> int:
    from cdgpt import operations

    if args.job_id:  # one job: an object, as GET /jobs/{job_id} answers one
        job = operations.job_status(args.job_id)
        print(json.dumps(job.model_dump(mode="json"), ensure_ascii=False, indent=1) if args.json else _job_line(job))
        return 0
    jobs = operations.recent_jobs(args.model, args.limit)
    if args.json:
        print(json.dumps([j.model_dump(mode="json") for j in jobs], ensure_ascii=False, indent=1))
        return 0
    if jobs:
        print(f"{'job':34}  {'kind':8} {'model':24} {'status':9} {'stage':10} progress")
    for job in jobs:
        print(_job_line(job))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from cdgpt import operations

    deleted = operations.delete(args.model)
    cancelled = f"; cancelled job {deleted.cancelled_job}" if deleted.cancelled_job else ""
    print(f"deleted {deleted.model_name} ({deleted.files_deleted} files){cancelled}")
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    from cdgpt import operations

    reports = operations.usage_report(args.model, args.days)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in reports], ensure_ascii=False, indent=1))
        return 0
    print(
        f"{'model':24} {'chats':>7} {'trainings':>9} {'embedding':>11} {'prompt':>10} {'completion':>10}  (last {args.days} days)"
    )
    for report in reports:
        t = report.total
        print(
            f"{report.model_name:24} {t.chats:>7} {t.trainings:>9} {t.embedding_tokens:>11} {t.prompt_tokens:>10} {t.completion_tokens:>10}"
        )
        for model, tokens in sorted(t.llm_models.items()):
            print(f"  {model}: {tokens} tokens")
    if not reports:
        print("no usage recorded yet", file=sys.stderr)
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(commands: Any) -> None:
    """Add the training and model commands to the CLI's subcommands."""
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

    sources = commands.add_parser("sources", help="add sources to a model or remove them (only new text is embedded)")
    sources.add_argument("--model", required=True, help="model name")
    sources.add_argument("--add", action="append", default=[], metavar="SOURCE", help="a source to add (repeatable)")
    sources.add_argument(
        "--remove", action="append", default=[], metavar="SOURCE", help="a source to remove (repeatable)"
    )
    sources.set_defaults(func=cmd_sources)

    models = commands.add_parser("models", help="list the models, or show one with its sources")
    models.add_argument("model", nargs="?", help="a model to show")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)

    jobs = commands.add_parser("jobs", help="list recent training jobs, or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--model", help="only this model's jobs")
    jobs.add_argument("--limit", type=positive_int, default=20)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=cmd_jobs)

    usage = commands.add_parser("usage", help="chats, trainings and tokens per model (embedding tokens: OpenAI only)")
    usage.add_argument("model", nargs="?", help="one model (default: every model)")
    usage.add_argument("--days", type=positive_int, default=30, help="the last N days, today included (default 30)")
    usage.add_argument("--json", action="store_true", help="print every day's totals as JSON")
    usage.set_defaults(func=cmd_usage)

    delete = commands.add_parser("delete", help="delete a model and every version (cancels its training)")
    delete.add_argument("model")
    delete.set_defaults(func=cmd_delete)
