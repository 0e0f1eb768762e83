"""Vectors and lexical index: embeddings, Faiss, BM25."""
