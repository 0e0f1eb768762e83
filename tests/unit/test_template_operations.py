"""What the stack must hold for its operators, read from template.yaml (found by reviewing it): one
throttled stage, functions that end before API Gateway does, an alarm per failure that reaches nobody
else, and the usage table kept."""

from __future__ import annotations

import pytest

from cdgpt.local.server import _CfnLoader
from tests.support import REPO

TEMPLATE = _CfnLoader.load((REPO / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]


def test_the_api_has_only_its_throttled_stage():
    api = RESOURCES["Api"]["Properties"]
    assert api["OpenApiVersion"] == "3.0.1"  # without it SAM adds a stage "Stage", unthrottled
    assert api["MethodSettings"][0]["ThrottlingRateLimit"] == "ApiRateLimit"  # the loader reads a !Ref as its name


@pytest.mark.parametrize("function", ["ChatFunction", "TrainFunction"])
def test_an_api_function_ends_before_api_gateway_gives_up(function):
    """API Gateway counts a cold start's setup in its 29 s; the function's timeout does not."""
    assert RESOURCES[function]["Properties"]["Timeout"] <= 25


def test_every_new_dead_letter_and_every_5xx_raises_an_alarm():
    dead_letters = RESOURCES["FailedTrainingsAlarm"]["Properties"]
    assert (dead_letters["MetricName"], dead_letters["Statistic"]) == ("NumberOfMessagesSent", "Sum")
    server_errors = RESOURCES["ApiServerErrorsAlarm"]["Properties"]
    assert server_errors["MetricName"] == "5XXError"
    dimensions = {d["Name"]: d["Value"] for d in server_errors["Dimensions"]}
    assert dimensions == {"ApiName": RESOURCES["Api"]["Properties"]["Name"], "Stage": "Prod"}


def test_the_usage_table_is_kept_and_recoverable():
    table = RESOURCES["RateTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_expired_objects_leave_no_delete_markers_behind():
    rules = RESOURCES["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("ExpiredObjectDeleteMarker") for rule in rules)


def test_shard_steps_have_their_own_concurrency_and_wait_their_turn():
    assert RESOURCES["TrainShardFunction"]["Properties"]["ReservedConcurrentExecutions"] == "ShardFunctionConcurrency"
    work = RESOURCES["TrainStateMachine"]["Properties"]["Definition"]["States"]["Shards"]["ItemProcessor"]["States"]
    [throttled] = [r for r in work["Work"]["Retry"] if r["ErrorEquals"] == ["Lambda.TooManyRequestsException"]]
    assert throttled["MaxAttempts"] * throttled["MaxDelaySeconds"] >= 3 * 3600  # hours of turns, not minutes


def test_the_schedules_model_names_cannot_break_its_json_input():
    """The schedule's input is `{"retrain": "<RetrainModels>"}`: a quote in the parameter would break it."""
    import re

    pattern = re.compile(TEMPLATE["Parameters"]["RetrainModels"]["AllowedPattern"])
    assert all(pattern.fullmatch(names) for names in ("*", "handbook", "hr-bot, it.helpdesk,policies_2"))
    assert not any(pattern.fullmatch(names) for names in ('hr"}', "a,,b", "*, hr", "", "../x", "a,\tb", "a,\nb"))
