"""Recipe indexes, in two sub-packages whose names say which side they are:

    serving/   load an index (a folder or a Hub repo), search it, filter it: what the app
               imports. May import model only.
    building/  embed a collection with a trained retriever, write the index folder, publish
               model + index to the Hub, the command line. May import model, pipeline and
               serving.

    from embeddings import load_index
    index = load_index("artifacts/index")            # or "user/repo", revision="v1"
    hits = index.search(query_vector, "recipe", k=10)

    from embeddings.building.build import build_index   # the build side, which reads collections

This file imports the serving side only, so the app starts without the feature pipeline.
Never train/, ui/ or app.py.
"""

import model  # noqa: F401  (first, so the OpenMP wait policy is set before torch loads)

from .serving.hub import load_index
from .serving.index import Hit, RecipeIndex
from .serving.manifest import SEARCH_FIELDS, CorruptIndexError

__all__ = ["CorruptIndexError", "Hit", "RecipeIndex", "SEARCH_FIELDS", "load_index"]
