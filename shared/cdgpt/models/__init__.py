"""Trained models: artifact stores and the registry of versions."""
