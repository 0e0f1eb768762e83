"""Token usage as CloudWatch metrics (Powertools' embedded metric format), with a `model` dimension."""

from __future__ import annotations

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from cdgpt.api.resolver import metrics
from cdgpt.usage import Usage


def publish_usage(model_name: str, usage: Usage | None) -> None:
    """One EMF record of a chat's or a job's tokens for its model (the handler's own metrics have no
    `model` dimension, so these go out on their own)."""
    if usage is None:
        return
    per_model = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
    per_model.add_dimension(name="model", value=model_name)
    if usage.embedding_tokens is not None:
        per_model.add_metric(name="EmbeddingTokens", unit=MetricUnit.Count, value=usage.embedding_tokens)
    if usage.llm_model is not None:
        per_model.add_metric(name="PromptTokens", unit=MetricUnit.Count, value=usage.prompt_tokens)
        per_model.add_metric(name="CompletionTokens", unit=MetricUnit.Count, value=usage.completion_tokens)
    if per_model.metric_set:
        per_model.flush_metrics()
