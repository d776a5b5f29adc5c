"""The building side of an index: embed a collection with a trained retriever and write the
folder the serving side reads (build.py; shards.py for a torchrun job, line_build.py for
the re-ranker's stored ingredient lines, thumbnails.py, swap.py to replace a folder
whole), publish model + index (publish.py, card.py for the model card) and the command
line (cli.py, `python -m embeddings` / `recipe-index`).

May import: model, pipeline (it reads collections and runs the backbones) and
embeddings.serving (the formats it writes are the ones that side reads). Never train/ or ui/.
"""
