"""What runs only on a laptop: the CLI and the local server (kept out of the Lambda layer)."""
