"""The Lambda layers' pins and pyproject's runtime dependencies stay in step; local-only ones stay out."""

from __future__ import annotations

import re
import tomllib

from tests.support import REPO

LOCAL_ONLY = {"uvicorn", "click", "pyyaml"}  # cdgpt/local only (the layer drops it: shared/Makefile)
IN_THE_RUNTIME = {"boto3"}  # Lambda's python3.12 image has it


def names(requirements: str) -> set[str]:
    found = set()
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found.add(re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower())
    return found


def test_every_runtime_dependency_is_in_a_layer_or_local_only():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    app_layer = names((REPO / "shared/requirements.txt").read_text())
    faiss_layer = names((REPO / "layers/faiss/requirements.txt").read_text())
    missing = names("\n".join(project)) - app_layer - faiss_layer - IN_THE_RUNTIME - LOCAL_ONLY
    assert missing == set()


def test_the_local_server_is_not_in_the_app_layer():
    assert names((REPO / "shared/requirements.txt").read_text()) & LOCAL_ONLY == set()


def test_no_lambda_code_imports_the_local_package_or_its_server():
    pattern = re.compile(r"^\s*(from|import)\s+(cdgpt\.local|uvicorn)\b", re.MULTILINE)
    local = REPO / "shared/cdgpt/local"
    lambda_code = [*(REPO / "functions").rglob("*.py"), *(REPO / "shared/cdgpt").rglob("*.py")]
    offenders = [path.name for path in lambda_code if local not in path.parents and pattern.search(path.read_text())]
    assert offenders == []
