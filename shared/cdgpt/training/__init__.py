"""Training: the pipeline from sources to a published version."""
