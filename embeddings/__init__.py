"""Recipe indexes: embed a collection with a trained retriever, store the vectors and
recipe cards as safe, row-aligned files, load them (locally or from the Hub), search
them, and publish model + index to the Hub (hub.py, the only module that talks to it).

    from embeddings import load_index
    index = load_index("artifacts/index")            # or "user/repo", revision="v1"
    hits = index.search(query_vector, "recipe", k=10)

    from embeddings.build import build_index         # (the build side, which reads collections)

May import: model and pipeline (building an index embeds a collection). Never train/, ui/
or app.py. This file imports the load-and-search side only, so the app starts without the
feature pipeline; build.py brings it in.
"""

import model  # noqa: F401  (first, so the OpenMP wait policy is set before torch loads)

from .hub import load_index
from .index import Hit, RecipeIndex
from .manifest import SEARCH_FIELDS, CorruptIndexError

__all__ = ["CorruptIndexError", "Hit", "RecipeIndex", "SEARCH_FIELDS", "load_index"]
