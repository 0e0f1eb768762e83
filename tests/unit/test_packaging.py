"""What the deployed functions rely on: the layers' pins follow the lock, and S3 conditional writes exist."""

from __future__ import annotations

import importlib.util
import re
import shutil
from types import SimpleNamespace

import pytest

from cdgpt.errors import UpstreamError
from cdgpt.models.store import check_conditional_writes
from tests.support import REPO


def lock_script():
    spec = importlib.util.spec_from_file_location("lock_script", REPO / "scripts/lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project(tmp_path):
    for name in ("requirements.lock", "pyproject.toml", "shared/requirements.txt", "layers/faiss/requirements.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_the_committed_layer_pins_follow_the_lock(project):
    assert lock_script().drift(project) == []


def test_a_hand_edited_layer_pin_is_drift(project):
    app = project / "shared/requirements.txt"
    app.write_text(app.read_text().replace("requests==", "requests==0.0.1\n# was "))
    problems = lock_script().drift(project)
    assert problems == ["shared/requirements.txt differs from requirements.lock: run `python scripts/lock.py write`"]


def test_a_dependency_missing_from_the_lock_is_drift(project):
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = [\n", 'dependencies = [\n    "left-pad>=1",\n', 1)
    )
    problems = lock_script().drift(project)
    assert problems == ["left-pad is a dependency but not in requirements.lock: run `make lock`"]


def test_the_lambda_layers_leave_out_boto3_and_the_local_tools(project):
    app = lock_script().layer_files(lock_script().locked(project))["shared/requirements.txt"]
    assert "aws-lambda-powertools==" in app and "aws-xray-sdk==" in app
    for absent in ("boto3==", "botocore==", "numpy==", "faiss-cpu==", "huggingface-hub==", "pyyaml=="):
        assert f"\n{absent}" not in app, absent


def test_a_botocore_without_conditional_writes_is_refused_clearly():
    shape = SimpleNamespace(members={"Bucket": None, "Key": None, "Body": None})
    model = SimpleNamespace(operation_model=lambda name: SimpleNamespace(input_shape=shape))
    old_client = SimpleNamespace(meta=SimpleNamespace(service_model=model))
    with pytest.raises(UpstreamError, match="cannot make S3 conditional writes"):
        check_conditional_writes.__wrapped__(old_client)


def test_this_botocore_makes_conditional_writes():
    import boto3

    check_conditional_writes.__wrapped__(boto3.client("s3", region_name="us-east-1"))


def test_no_lambda_code_imports_the_local_package_or_its_server():
    pattern = re.compile(r"^\s*(from|import)\s+(cdgpt\.local|uvicorn)\b", re.MULTILINE)
    local = REPO / "shared/cdgpt/local"
    lambda_code = [*(REPO / "functions").rglob("*.py"), *(REPO / "shared/cdgpt").rglob("*.py")]
    offenders = [path.name for path in lambda_code if local not in path.parents and pattern.search(path.read_text())]
    assert offenders == []
