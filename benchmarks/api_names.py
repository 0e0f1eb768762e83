"""Names looked up in an API reference: "What does NAME do?" for 300 names sampled from its definitions,
ranking alone (the first four documents, before the relevance decision). Octave's manual (Texinfo: the
names of its function index) and the first 189 pages of Python's library reference (Sphinx: the names
of its signatures, `benchmarks/python-docs.sh`). Trains the model in CDGPT_DATA_DIR first.

    CDGPT_DATA_DIR=.cdgpt-bench/api .venv/bin/python benchmarks/api_names.py octave|python
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from cdgpt.answer.queries import search_query
from cdgpt.answer.retrieval import lexical_weight, load_model, search
from cdgpt.models.store import default_store
from cdgpt.settings import get_settings

QUESTIONS = 300
OCTAVE = Path("/usr/share/doc/octave/octave.html")  # octave-doc
INDEX_ENTRY = re.compile(r'<td valign="top"><a href="([\w-]+\.html)#index-[^"]*"><code>([^<]+)</code></a>')
SIGNATURE = re.compile(r'<dt class="sig sig-object py" id="([\w.]+)"')
ROOT = Path(__file__).resolve().parent.parent


def octave() -> tuple[Path, list[Path], set[tuple[str, str]], str]:
    if not OCTAVE.is_dir():
        subprocess.run([ROOT / "benchmarks/apt-packages.sh", "octave-doc"], check=True)
    index = (OCTAVE / "Function-Index.html").read_text(errors="replace")
    names = {(" ".join(name.split()), page) for page, name in INDEX_ENTRY.findall(index)}
    return OCTAVE, sorted(OCTAVE.glob("*.html")), names, "What does the {} function do?"


def python() -> tuple[Path, list[Path], set[tuple[str, str]], str]:
    folder = Path(os.environ.get("CDGPT_DATA_DIR", ".cdgpt-bench")) / "python-library"
    if not folder.is_dir():
        subprocess.run([ROOT / "benchmarks/python-docs.sh", folder], check=True)
    pages = sorted(folder.glob("*.html"))
    names = {(name, page.name) for page in pages for name in SIGNATURE.findall(page.read_text(errors="replace"))}
    return folder, pages, names, "What does {} do?"


def main(corpus: str) -> None:
    root, pages, names, question = {"octave": octave, "python": python}[corpus]()
    env = {**os.environ, "CDGPT_SOURCE_ROOT": str(root)}
    train = [ROOT / ".venv/bin/cdgpt", "train", "--model", corpus, *(page.name for page in pages)]
    print(subprocess.run(train, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    settings = get_settings()
    model = load_model(corpus, default_store(settings), settings)
    random.seed(1)
    hits_1 = hits_4 = 0
    instead: Counter[str] = Counter()
    for name, page in random.sample(sorted(names), QUESTIONS):
        found = search(
            model, search_query(question.format(name), [], model, settings), 4, lexical_weight(model, settings)
        )
        got = [hit.chunk["source"].rsplit("/", 1)[-1] for hit in found.documents[:4]]
        hits_1 += got[:1] == [page]
        hits_4 += page in got
        if got and got[0] != page:
            instead[got[0]] += 1
    print(f"{corpus}: R@1 {hits_1}/{QUESTIONS}  R@4 {hits_4}/{QUESTIONS}; first instead: {instead.most_common(5)}")


if __name__ == "__main__":
    main(sys.argv[1])
