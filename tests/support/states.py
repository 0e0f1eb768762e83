"""A small runner of a state machine declared in template.yaml, for tests: the parts of the Amazon States
Language the sharded training's definition uses (Task on `lambda:invoke`, a Distributed Map that reads
its items from S3 with ItemReader and ItemSelector, MaxConcurrencyPath, Retry, Catch, ResultPath,
OutputPath, Fail), with JSONPath reduced to plain paths (`$.a.b`, `$$.Map.Item.Value.shard`).

Each Lambda task calls the function's handler from the template (CodeUri + Handler) in this process,
with the payload the definition builds, so a test runs the definition, its events and the functions
together. A handler's exception is the task's error, named by its class as Lambda names it; `invoke`
may be wrapped to make a task fail as Lambda itself would (`TaskFailed("Lambda.ServiceException")`).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdgpt.local.server import Route, _CfnLoader, lambda_context, load_handler

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"
Invoke = Callable[[str, dict], Any]  # (function resource name, payload) -> the function's result


class TaskFailed(Exception):
    """A state's error, as Step Functions names it (Error, Cause)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(error)
        self.error, self.cause = error, cause


class ExecutionFailed(TaskFailed):
    """A Fail state was reached: the execution (or a Map's child execution) ends failed."""


def definition_of(template: Path, resource: str, refs: dict[str, str]) -> dict:
    """The state machine's definition with its DefinitionSubstitutions applied: a function's `!GetAtt X.Arn`
    becomes the name X (what `invoke` is called with), any other `!Ref X` becomes refs[X]."""
    props = _CfnLoader.load(template.read_text())["Resources"][resource]["Properties"]
    text = json.dumps(props["Definition"])
    for name, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + name + "}", value.removesuffix(".Arn") if value.endswith(".Arn") else refs[value])
    return json.loads(text)


def template_invoker(template: Path) -> Invoke:
    """Calls a template function's handler as Lambda would (a fresh request id per invocation)."""
    functions = _CfnLoader.load(template.read_text())["Resources"]

    def invoke(function: str, payload: dict) -> Any:
        props = functions[function]["Properties"]
        route = Route("", "", function, (template.parent / props["CodeUri"]).resolve(), props["Handler"])
        return load_handler(route)(copy.deepcopy(payload), lambda_context(function, str(uuid.uuid4())))

    return invoke


@dataclass
class Execution:
    definition: dict
    invoke: Invoke
    s3: Any  # a boto3 S3 client: the ItemReader reads from it
    entered: list[str] = field(default_factory=list)  # the states entered, in order
    retried: list[tuple[str, str]] = field(default_factory=list)  # (state, error) of each retry
    concurrency: list[int] = field(default_factory=list)  # each Map's MaxConcurrency

    def run(self, data: dict) -> dict:
        """{"status": "SUCCEEDED", "output": ...} or {"status": "FAILED", "error": ..., "cause": ...}."""
        try:
            return {"status": "SUCCEEDED", "output": self._states(self.definition, data)}
        except TaskFailed as failure:
            return {"status": "FAILED", "error": failure.error, "cause": failure.cause}

    def _states(self, machine: dict, data: Any) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            self.entered.append(name)
            if state["Type"] == "Fail":
                raise ExecutionFailed(state.get("Error", "States.Fail"), state.get("Cause", ""))
            if state["Type"] == "Succeed":
                return data
            try:
                result = self._attempts(name, state, data)
            except TaskFailed as failure:
                catch = next((c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], failure.error)), None)
                if catch is None:
                    raise
                data = _put(data, catch.get("ResultPath", "$"), {"Error": failure.error, "Cause": failure.cause})
                name = catch["Next"]
                continue
            data = _put(data, state.get("ResultPath", "$"), result)
            if "OutputPath" in state and state["OutputPath"] is None:
                data = {}
            if state.get("End"):
                return data
            name = state["Next"]

    def _attempts(self, name: str, state: dict, data: Any) -> Any:
        retriers = state.get("Retry", [])
        used = [0] * len(retriers)
        while True:
            try:
                return self._execute(state, data)
            except TaskFailed as failure:
                n = next((n for n, r in enumerate(retriers) if _matches(r["ErrorEquals"], failure.error)), None)
                if n is None or used[n] >= retriers[n].get("MaxAttempts", 3):
                    raise
                used[n] += 1
                self.retried.append((name, failure.error))

    def _execute(self, state: dict, data: Any) -> Any:
        if state["Type"] == "Map":
            return self._map(state, data)
        assert state["Type"] == "Task" and state["Resource"] == LAMBDA_INVOKE, state
        params = _fill(state["Parameters"], data, {})
        try:
            payload = self.invoke(params["FunctionName"], params["Payload"])
        except TaskFailed:
            raise
        except Exception as exc:
            kind = type(exc).__name__
            raise TaskFailed(kind, json.dumps({"errorMessage": str(exc), "errorType": kind})) from exc
        return {"Payload": json.loads(json.dumps(payload)), "StatusCode": 200}

    def _map(self, state: dict, data: Any) -> list:
        reader = state["ItemReader"]
        assert reader["Resource"] == S3_GET_OBJECT and reader["ReaderConfig"]["InputType"] == "JSON", reader
        where = _fill(reader["Parameters"], data, {})
        items = json.loads(self.s3.get_object(Bucket=where["Bucket"], Key=where["Key"])["Body"].read())
        assert isinstance(items, list), "ItemReader's JSON must be an array"
        limit = _path(state["MaxConcurrencyPath"], data, {})
        assert isinstance(limit, int) and limit >= 1, limit
        self.concurrency.append(limit)
        children = [
            _fill(state["ItemSelector"], data, {"Map": {"Item": {"Index": n, "Value": item}}})
            for n, item in enumerate(items)
        ]
        with ThreadPoolExecutor(max_workers=limit) as pool:
            futures = [pool.submit(self._states, state["ItemProcessor"], child) for child in children]
            outcomes = [future.exception() or future.result() for future in futures]
        if any(isinstance(o, BaseException) for o in outcomes):  # no failure is tolerated
            raise TaskFailed(
                "States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded"
            )
        return outcomes


def _matches(errors: list[str], error: str) -> bool:
    return "States.ALL" in errors or error in errors


def _path(path: str, data: Any, context: dict) -> Any:
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    for part in filter(None, rest.split(".")):
        root = root[part]
    return root


def _fill(template: dict, data: Any, context: dict) -> dict:
    """Parameters, Payload or ItemSelector: `key.$` fields take the value at their path."""
    filled: dict = {}
    for key, value in template.items():
        if key.endswith(".$"):
            filled[key[:-2]] = _path(value, data, context)
        elif isinstance(value, dict):
            filled[key] = _fill(value, data, context)
        else:
            filled[key] = value
    return filled


def _put(data: Any, path: str | None, result: Any) -> Any:
    """ResultPath: null keeps the input, `$` replaces it, `$.x` sets a field of a copy."""
    if path is None:
        return data
    if path == "$":
        return result
    out = copy.deepcopy(data)
    *parents, last = path[2:].split(".")
    target = out
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = result
    return out
