#!/usr/bin/env bash
# `pip install .` without extras into a fresh venv, then `cdgpt serve` trains the sample handbook and
# answers a chat over HTTP: the server's dependencies are the package's own, not the dev tools'.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3.12}
work=$(mktemp -d)
server=""
cleanup() {
    if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/src"
cp -r pyproject.toml README.md shared "$work/src/"  # build from a copy: no build/ or egg-info left here
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$work/src"

port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i PATH="$PATH" HOME="$work" API_SECRET=plain-install CDGPT_DATA_DIR="$work/data" CDGPT_SOURCE_ROOT="$repo" \
    "$work/venv/bin/cdgpt" serve --port "$port" --template "$repo/template.yaml" >"$work/serve.log" 2>&1 &
server=$!

if ! "$work/venv/bin/python" - "$port" <<'PY'; then
import json, sys, time, urllib.error, urllib.request

url = f"http://127.0.0.1:{sys.argv[1]}"
headers = {"Authorization": "Bearer plain-install", "Content-Type": "application/json"}

def post(path, body):
    request = urllib.request.Request(url + path, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)

deadline = time.monotonic() + 120
while True:  # poll until the server listens
    try:
        post("/chat", {})
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("cdgpt serve did not listen within 120 s")
        time.sleep(0.2)
status, trained = post("/train", {"model_name": "handbook", "file_list": ["samples/handbook"]})
assert status == 200 and trained["data"]["documents"] == 9, (status, trained)
status, answered = post("/chat", {"model_name": "handbook", "question": "What is the helpdesk extension?"})
assert status == 200 and answered["data"]["sources"], (status, answered)
print(f"plain install: cdgpt serve trained {trained['data']['chunks']} chunks and answered over HTTP")
PY
    cat "$work/serve.log" >&2
    exit 1
fi
