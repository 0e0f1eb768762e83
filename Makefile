# One-command entry points. Python 3.12 is pinned by .python-version (pyenv selects it).
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
UV_VENV := .tools/uv

.PHONY: demo test lint lock sam-check openapi browser screenshots clean

# The venv takes the locked versions of every runtime package (the ones the Lambda layers ship).
$(BIN)/cdgpt: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock -e ".[dev]"
	touch $@

## Train on the sample handbook with the embedded default and ask it a question.
demo: $(BIN)/cdgpt
	$(BIN)/cdgpt train --model handbook samples/handbook
	$(BIN)/cdgpt chat --model handbook "How many days of annual leave do I get, and can I carry some over?"

## Lint and type-check (ruff, mypy; configured in pyproject.toml).
lint: $(BIN)/cdgpt
	$(BIN)/python scripts/lock.py check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Run the test suite.
test: $(BIN)/cdgpt
	$(BIN)/python -m pytest

## Debian's headless Chromium and its driver (and a small CJK font) for the chat page's browser test.
# apt-get waits up to 10 minutes for another package manager's lock instead of failing at once.
APT_GET = apt-get -o DPkg::Lock::Timeout=600
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q .; then \
		echo "chromium, chromedriver and a CJK font are installed"; \
	else \
		$(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends \
			chromium chromium-driver fonts-wqy-microhei >/dev/null; \
	fi

## Take the README's screenshots of the chat page (docs/*.png) with the same browser test.
screenshots: $(BIN)/cdgpt browser
	SCREENSHOTS_DIR=docs $(BIN)/python -m pytest tests/integration/test_chat_page.py -k chinese

$(UV_VENV)/bin/uv:
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet uv

## Resolve the runtime dependencies again (Linux x86_64, Python 3.12) and regenerate the layers' pins.
lock: $(UV_VENV)/bin/uv $(BIN)/cdgpt
	$(UV_VENV)/bin/uv pip compile pyproject.toml -o requirements.lock --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 --no-annotate --quiet
	$(BIN)/python scripts/lock.py write

$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli

## Lint the template, build the stack without Docker, check the size limit, run the built functions.
sam-check: $(SAM_VENV)/bin/sam $(BIN)/cdgpt
	$(SAM) validate --lint
	$(SAM) build
	$(BIN)/python scripts/lambda_size.py .aws-sam/build
	$(BIN)/python scripts/smoke_build.py .aws-sam/build

## Write the OpenAPI document generated from the handlers.
openapi: $(BIN)/cdgpt
	$(BIN)/cdgpt openapi > openapi.json

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .cdgpt
