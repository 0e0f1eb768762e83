"""Sharded training: a large training's documents split into shards that workers ingest and embed
on their own, then merged into one version.

    plan   (the job's worker)  the file_list expanded into documents, in shards      plan.py
    work   (one per shard)     ingest, embed (reusing vectors by text), write        steps.py
    merge  (once)              shards → one version's artifacts, published           merge.py, steps.py
    fail   (the failure path)  the job failed with its reason, shard files removed   steps.py

On AWS the steps are a Step Functions state machine (template.yaml: a Distributed Map over the
shards, then the merge); elsewhere `runner.py` calls the same functions in this process. Where the
files go is in `files.py`.
"""
