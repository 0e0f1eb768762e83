"""Crawl benchmark: the generated intranet (make_site.py) trained through one crawl entry, then retrained.

The server is the standard library's, which answers If-Modified-Since with 304, so the second run shows
what an unchanged site costs. Both runs are the real `cdgpt train --crawl` command (local embedder).

    .venv/bin/python benchmarks/bench_crawl.py [--pages 200]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def serve(folder: Path, statuses: Counter) -> ThreadingHTTPServer:
    class Counting(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-") -> None:
            statuses[int(code)] += 1

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Counting, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cdgpt-crawl-"))
    site = work / "site"
    subprocess.run([sys.executable, str(HERE / "make_site.py"), str(site), "--pages", str(args.pages)], check=True)
    statuses: Counter = Counter()
    server = serve(site, statuses)
    os.environ.update(CDGPT_DATA_DIR=str(work / "data"), CDGPT_ALLOW_PRIVATE_URLS="1")
    cdgpt = Path(sys.executable).with_name("cdgpt")
    command = [str(cdgpt), "train", "--model", "site", "--crawl", f"http://127.0.0.1:{server.server_port}/index.html"]
    command += ["--max-pages", str(args.pages + 1), "--max-depth", "1"]
    runs = {}
    for name in ("first", "unchanged"):
        statuses.clear()
        start = time.perf_counter()
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()
        runs[name] = {"seconds": round(time.perf_counter() - start, 2), "statuses": dict(statuses), "output": out}
    server.shutdown()
    print(json.dumps({"pages": args.pages, **runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
