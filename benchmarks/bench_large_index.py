"""A synthetic million-row index as the app opens it: build (with its stored faiss index),
size on disk, open time, resident memory, top-10 latency and recall@10 against exact.

    python benchmarks/bench_large_index.py                        # 1M x 512 float16: ~20 min, ~8 GB at peak
    python benchmarks/bench_large_index.py --rows 100000 --quick  # the plumbing, minutes
    python benchmarks/bench_large_index.py --work W --keep; ... --work W --reuse  # open again, no rebuild

The index is written by the product's own writer (embeddings/build.write_index_files:
vectors, recipes.parquet with a thumbnail a row, the faiss index `auto` chooses), from
clustered unit vectors (no model: a model's encoding
is not what is measured). Opening runs in a fresh process, as the app does it: load_index
and the first search of each field RecipeSearch probes ("image", "fused"); its resident
memory is read after that. Queries are drawn from the clusters, not rows of the index;
recall@10 is against an exact search over the same stored float16 vectors.
Figures go to benchmarks/results/large_index.json. Figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import current_rss_mb, load_average, peak_rss_mb, percentiles_ms, write_result  # noqa: E402

FIELDS = ("image", "title", "recipe")
APP_FIELDS = ("image", "fused")  # what the app's RecipeSearch probes at start (and searches)


def synthetic_data(n: int, dim: int, clusters: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors around `clusters` random centres (noise as large as the centre), like
    real embeddings that group by dish; queries drawn the same way, not in the data.
    Returned as float16 (what an index stores) to keep memory down."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(clusters, dim, generator=generator), dim=1)
    chunks = []
    for start in range(0, n + 1000, 100_000):
        size = min(100_000, n + 1000 - start)
        x = centres[torch.randint(clusters, (size,), generator=generator)]
        x = x + torch.randn(size, dim, generator=generator) / dim**0.5
        chunks.append(torch.nn.functional.normalize(x, dim=1).half())
    data = torch.cat(chunks)
    return data[:n].contiguous(), data[n:].float()


class Thumbnails:
    """Thumbnail-sized JPEGs (~6 kB, as the sample's 192 px thumbnails are), made when the
    writer slices them (it converts a chunk of rows at a time), so the benchmark does not
    hold a million of them: a pool of distinct pictures, each row's bytes made its own by
    the row number after the image's end marker (decoders ignore it; identical values
    would let parquet store one)."""

    def __init__(self, rows: int, distinct: int = 1024):
        import io

        from PIL import Image

        rng, self.rows, self.pool = np.random.default_rng(0), rows, []
        for _ in range(distinct):
            noise = rng.integers(0, 256, (30, 48, 3), dtype=np.uint8)
            out = io.BytesIO()
            Image.fromarray(noise).resize((192, 120), Image.Resampling.BILINEAR).save(out, "JPEG", quality=70)
            self.pool.append(out.getvalue())

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, rows: slice) -> list[bytes]:
        return [self.pool[i % len(self.pool)] + i.to_bytes(8, "little") for i in range(*rows.indices(self.rows))]


def build(folder: Path, rows: int, dim: int, faiss: str) -> dict:
    """The index folder, written as `embeddings build` writes one; seconds and sizes."""
    from embeddings.building.build import index_manifest, write_index_files
    from pipeline.records import Recipe

    started = time.perf_counter()
    clusters = max(1, rows // 100)
    vectors = {}
    for k, field in enumerate(FIELDS):
        vectors[field] = synthetic_data(rows, dim, clusters, seed=k)[0].numpy()  # float16, written as is
    title_only = np.arange(rows) % 7 == 0  # one row in seven has no recipe, as in the sample
    vectors["recipe"][title_only] = 0
    recipes = [
        Recipe(id=f"r{i:07d}", title=f"dish {i}", ingredients=[] if title_only[i] else [f"{i % 9 + 1} cups flour"])
        for i in range(rows)
    ]
    made = time.perf_counter()
    model = {"source": "synthetic", "revision": None, "fingerprint": "0" * 64, "preset": "none"}
    thumbnail = {"max_side": 192, "quality": 70, "format": "JPEG"}
    manifest = index_manifest(model, dim, "float16", recipes, thumbnail, "synthetic")
    folder.mkdir(parents=True)
    hashes = [f"{i:064x}" for i in range(rows)]
    write_index_files(folder, vectors, recipes, hashes, Thumbnails(rows), manifest, faiss=faiss, progress=True)
    written = json.loads((folder / "manifest.json").read_text())
    return {
        "rows": rows,
        "dim": dim,
        "clusters": clusters,
        "faiss": written.get("faiss", {"kind": None}),
        "data_seconds": round(made - started, 1),
        "write_seconds": round(time.perf_counter() - made, 1),
        "files_mb": {f.name: round(f.stat().st_size / 1e6, 1) for f in sorted(folder.iterdir())},
        "size_mb": round(sum(f.stat().st_size for f in folder.iterdir()) / 1e6, 1),
        "build_peak_rss_mb": round(peak_rss_mb()),  # thumbnails made a chunk at a time, not held
    }


def open_and_search(folder: Path, queries: int) -> dict:
    """In this (fresh) process: open as the app does, then time searches and recall."""
    baseline = current_rss_mb()
    started = time.perf_counter()
    from embeddings import load_index

    index = load_index(folder)
    probe = np.ones(index.dim, dtype=np.float32)
    for field in APP_FIELDS:
        index.search(probe, field, 1)  # the app's probe: opens each field's searcher
    opened = time.perf_counter() - started
    rss_open = current_rss_mb()
    clusters = max(1, index.count // 100)
    asked = synthetic_data(index.count, index.dim, clusters, seed=0)[1][:queries]  # "image" field's clusters
    out = {"open_seconds": round(opened, 2), "rss_mb_before_open": round(baseline), "rss_mb_open": round(rss_open)}
    for name, rows in (("top10", None), ("top10_recipes_only", index.has_recipe)):
        times, found = [], []
        for query in asked:
            began = time.perf_counter()
            hits = index.search(query.numpy(), "image", 10, rows=rows)
            times.append(time.perf_counter() - began)
            found.append([h.row for h in hits])
        out[name] = percentiles_ms(times)
        out[f"{name}_rows"] = found
    out["rss_mb_after_searches"] = round(current_rss_mb())
    # Exact answers over the same stored float16 vectors (after the RSS reading): every
    # query against a chunk of rows at a time, one float32 copy of each chunk in all.
    matrix, scores = index.vectors("image"), []
    for start in range(0, index.count, 100_000):
        scores.append(asked @ matrix[start : start + 100_000].float().T)
    scores = torch.cat(scores, dim=1)  # (queries, rows)
    for name, rows in (("top10", None), ("top10_recipes_only", torch.from_numpy(index.has_recipe))):
        masked = scores if rows is None else scores.masked_fill(~rows, float("-inf"))
        exact = torch.topk(masked, 10, dim=1).indices.tolist()
        found = out.pop(f"{name}_rows")
        recall = [len(set(e) & set(f)) / 10 for e, f in zip(exact, found)]
        out[f"{name}_recall_at_10"] = round(float(np.mean(recall)), 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--faiss", default="auto", help="the build's --faiss (auto: IVF-PQ at 1M rows)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the index (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="leave the index folder (and its build figures)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="open the folder an earlier --keep run left in --work, not writing it again (its build figures kept)",
    )
    parser.add_argument("--quick", action="store_true", help="write results to large_index_quick.json")
    parser.add_argument("--open", type=Path, default=None, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.open:
        print(json.dumps(open_and_search(args.open, args.queries)))
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="large-index-"))
    folder, built = work / "index", work / "build.json"
    result = {"load_average_start": load_average()}
    if args.reuse and built.is_file() and (folder / "manifest.json").is_file():
        result["build"] = {**json.loads(built.read_text()), "reused": True}
    else:
        shutil.rmtree(folder, ignore_errors=True)
        result["build"] = build(folder, args.rows, args.dim, args.faiss)
        built.write_text(json.dumps(result["build"]))
    child = [sys.executable, __file__, "--open", str(folder), "--queries", str(args.queries)]
    done = subprocess.run(child, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"opening the index failed:\n{done.stderr[-3000:]}")
    result["open"] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average_end"] = load_average()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    write_result("large_index_quick" if args.quick else "large_index", result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
