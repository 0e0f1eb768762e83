"""Training as the API reports it: the result with the original clients' field names, as a dict."""

from __future__ import annotations

from cdgpt.api.contract import train_result
from cdgpt.training import pipeline


def trained(*args, **kwargs) -> dict:
    """`pipeline.train`, returning the wire result."""
    return train_result(pipeline.train(*args, **kwargs)).model_dump()


def retrained(*args, **kwargs) -> dict:
    """`pipeline.retrain`, returning the wire result."""
    return train_result(pipeline.retrain(*args, **kwargs)).model_dump()
