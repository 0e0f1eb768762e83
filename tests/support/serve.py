"""`cdgpt serve` as a real subprocess (the venv's console script) on a free 127.0.0.1 port.

    from tests.support.serve import served  # noqa: F401   (module-scoped: one server per test module)

`serving(...)` is the context manager behind the fixture, for modules that need other settings.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import REPO

SECRET = "local-test-secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
# Variables of the developer's shell that would change what the server does.
DROPPED_PREFIXES = ("CDGPT_", "OPENAI_", "ARTIFACTS_BUCKET", "AWS_ENDPOINT_URL", "API_SECRET", "POWERTOOLS_")


def cdgpt_script() -> Path:
    script = Path(sys.executable).parent / "cdgpt"
    assert script.is_file(), f"the package's console script is not installed next to {sys.executable}"
    return script


def free_port() -> int:
    """A port the kernel just handed out for 127.0.0.1 (released again for the server to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen
    log: Path
    data_dir: Path
    session: requests.Session

    def post(
        self, path: str, *, auth: bool = True, headers: dict[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        """POST to the server; the valid bearer header is sent unless `auth=False` (explicit headers win)."""
        sent = {**(AUTH if auth else {}), **(headers or {})}
        return self.session.post(self.url + path, headers=sent, timeout=REQUEST_TIMEOUT_S, **kw)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=REQUEST_TIMEOUT_S, **kw)

    def server_log(self) -> str:
        return self.log.read_text("utf-8", "replace")


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> bool:
    """True once the port accepts connections; False if the process exited first (e.g. the port was taken)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)  # polling interval, not a wait for something to have happened
    process.kill()
    raise AssertionError(f"cdgpt serve did not listen on {port} within {START_TIMEOUT_S} s:\n{log.read_text()}")


@contextmanager
def serving(
    workdir: Path,
    *,
    source_root: Path = REPO,
    env: dict[str, str] | None = None,
    template: Path = REPO / "template.yaml",
    args: tuple[str, ...] = (),
) -> Iterator[Served]:
    """Run `cdgpt serve` with API_SECRET set, its data folder in `workdir`, local paths under `source_root`;
    `args` are more command-line options (e.g. a short `--read-timeout`)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
    data_dir = workdir / "data"
    base.update(
        API_SECRET=SECRET,
        CDGPT_DATA_DIR=str(data_dir),
        CDGPT_SOURCE_ROOT=str(source_root),
        CDGPT_EMBEDDINGS="local",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
    )
    base.update(env or {})
    for attempt in range(3):  # another process may grab the free port before the server binds it
        port = free_port()
        log = workdir / f"serve-{attempt}.log"
        command = [str(cdgpt_script()), "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--template", str(template), *args]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=base,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if _wait_until_listening(process, port, log):
            break
    else:
        raise AssertionError(f"cdgpt serve exited before listening:\n{log.read_text()}")

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment for 127.0.0.1
    try:
        yield Served(f"http://127.0.0.1:{port}", port, process, log, data_dir, session)
    finally:
        session.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """One `cdgpt serve` per test module, with the repository as the source root (samples/handbook)."""
    with serving(tmp_path_factory.mktemp("serve")) as server:
        yield server
