"""Training: `python -m train` (the loop, checkpoints and exact resume, the epoch and the
recipe vector chosen on val, query expansion fitted on val, the model folder written),
`python -m train.evaluate` (the field's protocol on held-out pairs, train/metrics.py),
`python -m train.expansion` (refit query expansion), the ingredient-word labels and the
training plots.

May import: model, pipeline (rows, features, sources, collection embedding) and
embeddings (a run may end by building and publishing the index). Nothing imports train/
except its own modules, the tests and the benchmarks.
"""

import model  # noqa: F401,E402  (first, so the OpenMP wait policy is set before torch loads)
