"""Bounds on untrusted input, in one place (the API's request models and the domain both use them)."""

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
MAX_SOURCES = 5000  # file_list entries in one training
MAX_DOCUMENTS = 20000  # documents in one training, prefixes and folders expanded
MAX_ENTRY_CHARS = 2048  # one file_list entry
MAX_PROMPT_CHARS = 20000
MAX_QUESTION_CHARS = 4000
MAX_HISTORY_ITEMS = 200
MAX_HISTORY_ITEM_CHARS = 20000
MAX_HISTORY_CHARS = 500_000  # the history is echoed back: keep the reply far below Lambda's 6 MB
MAX_WAIT_SECONDS = 25  # a training answers before API Gateway's 29 s integration timeout
