"""API keys: scoped to models and a role (records.py), and a request rate per key (throttle.py)."""
