"""The feature pipeline: recipe collections in, what the heads read and the vectors they
give out. One file a stage, in the order a run goes through them:

    read.py      read rows: a Kaggle folder or a `datasets` source -> Recipe records (records.py)
    photos.py    decode and augment photos: a row's photo -> the backbone's input tensor
    features.py  backbone features and their on-disk cache
    sources.py   the sources a training or embedding run reads, batch by batch
    embed.py     embed a collection: every row's unit vectors (evaluation, index building)

with records.py (the Recipe record and the one row hash), splits.py (the deterministic
train/val/test split), parallel.py (threads with a progress bar), recipe1m.py (Recipe1M's
layout as a source, for read.py), lines.py (per-line text features for the sequence
recipe encoders), regions.py (photo regions for the re-ranker), world.py (the ranks of a
torchrun job) and shard_files.py (one rank's share of a sharded job on disk) beside them.

May import: model, torch, torchvision, PIL, pandas, datasets, safetensors, tqdm. Both
train/ and embeddings/ import it; it imports neither of them, nor ui/ or app.py, and
model/ does not import it.
"""

import model  # noqa: F401  (first, so the OpenMP wait policy is set before torch loads)
