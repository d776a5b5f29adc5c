"""The serving side of an index: what the app (and anyone searching) loads. Read an index
folder or a Hub repo (index.py, hub.py, manifest.py: checksums and formats), search it
(search.py exact, faiss_store.py approximate, mapped.py memory-mapped vectors), its
thumbnails (thumbnail_column.py), ingredient filters and "cook from what I have"
(ingredients.py, pantry.py), refinement and neighbours (refine.py, neighbours.py), the
re-ranker over stored ingredient lines (rerank.py, line_store.py) and the engine graphs an
index carries (engine_graphs.py). hub.py is the one module that talks to huggingface_hub,
uploads included.

May import: model only. Never pipeline/, train/ or embeddings/building/: the app starts
without the feature pipeline (tests/test_architecture.py holds it to that).
"""
