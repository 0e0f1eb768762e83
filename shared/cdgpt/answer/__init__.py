"""Answering: retrieval, answers, evaluation."""
