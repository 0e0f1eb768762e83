"""Ingestion: sources, text extraction, chunking."""
