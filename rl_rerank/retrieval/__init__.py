"""First-stage retrieval (BM25) used by training-data building, reranking inputs and evaluation alike."""
