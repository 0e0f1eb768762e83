"""The HTTP API: wire contract and the guarded resolver."""
