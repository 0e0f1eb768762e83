"""Custom Data GPT: train on company documents, answer questions with sources."""
