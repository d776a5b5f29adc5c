"""Benchmarks: scripts that measure the product on named data and print each figure with
the command that made it (benchmarks/results/<name>.json), the runner of them all
(run.py, `make bench`), and the report that writes RESULTS.md and the README's generated
blocks from those files (report*.py). Speed and quality targets live here, never in tests.

May import: everything (model, pipeline, train, embeddings, ui, app.py), as a user's script
would. Nothing of the product imports benchmarks/; tests only check that each imports and
runs nothing at import.
"""
