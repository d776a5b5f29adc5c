"""`python -m embeddings build | search | push`."""

from __future__ import annotations

import argparse
import json
import sys

import torch
from PIL import Image

from model.protocol import DIRECTIONS
from pipeline.records import parse_list
from pipeline.world import join, leave

from ..serving.engine_graphs import use_index_engine
from ..serving.faiss_store import KINDS
from ..serving.hub import load_index, load_model
from ..serving.manifest import CorruptIndexError
from ..serving.rerank import PhotoReranker
from ..serving.search import BACKENDS
from .build import build_index
from .publish import publish
from .thumbnails import THUMB_MAX_SIDE

DEFAULT_INDEX = "artifacts/index"
DEFAULT_MODEL = "artifacts/model"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m embeddings", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="embed every recipe of a collection into an index directory")
    build.add_argument("--model", default=DEFAULT_MODEL, help="model directory or Hub id (default: %(default)s)")
    build.add_argument("--revision", help="Hub tag or commit of --model")
    build.add_argument("--data", required=True, help="Kaggle-layout folder, imagefolder or datasets Hub id")
    build.add_argument("--out", default=DEFAULT_INDEX, help="index directory (default: %(default)s)")
    build.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    build.add_argument(
        "--thumb-size", type=int, default=None, help="thumbnail longest side in px (default 192, at most 256)"
    )
    build.add_argument(
        "--no-feature-cache",
        action="store_true",
        help="run the backbones even for a frozen-backbone model whose features `python -m train` cached",
    )
    build.add_argument(
        "--faiss",
        choices=sorted(KINDS),
        default="auto",
        help="the faiss index trained once and stored beside the vectors, so loading maps it instead of training "
        "one; auto: none below 250k rows (exact search), IVF-Flat below 500k, IVF-PQ from there",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bars")

    search = commands.add_parser("search", help="search an index with a photo, a title or a recipe text")
    search.add_argument("--index", default=DEFAULT_INDEX, help="index directory or Hub id (default: %(default)s)")
    search.add_argument("--revision", help="Hub tag or commit of --index")
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--image", help="a photo file: finds recipes")
    query.add_argument("--title", help="a dish name: finds photos")
    query.add_argument("--recipe", help="ingredients / instructions text: finds photos")
    search.add_argument(
        "--field",
        choices=("image", "title", "recipe", "fused"),
        help="what to search (default: for --image the recipe vector the model chose on val, for text the photos)",
    )
    search.add_argument("--model", help="model directory or Hub id (default: the one in the manifest)")
    search.add_argument("--model-revision", help="Hub tag or commit of --model")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--backend", choices=BACKENDS, default="auto")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")

    push = commands.add_parser("push", help="publish a model (and its index) to the Hugging Face Hub")
    push.add_argument("--model", default=DEFAULT_MODEL, help="model directory (default: %(default)s)")
    push.add_argument("--index", help="index directory to publish beside it (under index/)")
    push.add_argument("--repo", required=True, help="USER/NAME of the model repo")
    push.add_argument("--branch", help="branch to commit to (default: main)")
    push.add_argument("--tag", help="tag the new commit, e.g. v1, to pin it by")
    push.add_argument("--private", action="store_true")
    push.add_argument("--license", help="licence id for the model card (default cc-by-sa-3.0, the data's)")
    push.add_argument("--dataset", action="append", help="dataset name for the card metadata (repeatable)")
    return parser.parse_args(argv)


def run_build(args) -> int:
    size = args.thumb_size or THUMB_MAX_SIDE
    if not 16 <= size <= 256:
        raise ValueError(f"--thumb-size must be between 16 and 256 px, got {size}")
    # Under torchrun each process is one rank, embedding its share (embeddings/building/shards.py).
    world, _ = join(torch.device("cpu"))
    try:
        report = build_index(
            args.model,
            args.data,
            args.out,
            revision=args.revision,
            dtype=args.dtype,
            thumb_size=size,
            progress=not args.quiet and world.is_main,
            faiss=args.faiss,
            world=world,
            **({"feature_cache": None} if args.no_feature_cache else {}),
        )
    finally:
        leave(world)
    if world.is_main:
        print(report)
    return 0


def query_vector(model, args):
    """(vector (1, D), its modality, default field, the photo's regions (R, C) for a model
    with a re-ranker, else None) for the query the user gave."""
    with torch.no_grad():
        if args.image:
            with Image.open(args.image) as photo:
                if model.reranks:  # one backbone pass gives the vector and the regions
                    parts = model.encode_photo_parts([photo], with_regions=True)
                    vector, regions = parts.vectors, parts.regions
                    return vector, "image", model.fitted.recipe_vector, regions[0]
                return model.encode_photos([photo]), "image", model.fitted.recipe_vector, None
        if args.title:
            return model.encode_title([args.title]), "title", "image", None
        lines = parse_list(args.recipe, newline_split=True)
        return model.encode_recipe([lines], [lines]), "recipe", "image", None


def expanded(model, vector, modality: str, field: str):
    """The query expansion the model chose on val for this (query, searched field) pair, if
    it is one of the four trained directions (model/expansion.py); a search of the fused
    recipe vector expands as the recipe direction does."""
    direction = f"{modality}_to_{'recipe' if field == 'fused' else field}"
    with torch.no_grad():
        return model.expand(direction, vector) if direction in DIRECTIONS else vector


def run_search(args) -> int:
    index = load_index(args.index, args.revision, backend=args.backend)
    source = args.model or index.manifest["model"]["source"]
    revision = args.model_revision if args.model else index.manifest["model"].get("revision")
    model = load_model(source, revision)
    index.check_model(model)
    print(use_index_engine(model, index), file=sys.stderr)
    vector, modality, field, regions = query_vector(model, args)
    field = args.field or field
    # A photo finds recipes: rows with one only, whichever recipe vector is searched.
    finds_recipes = modality == "image" and field in ("recipe", "fused")
    rows = index.has_recipe if finds_recipes else None
    query = expanded(model, vector, modality, field)[0].numpy()
    reranked = finds_recipes and regions is not None
    if reranked:  # the model's region x ingredient scorer re-orders the top K (embeddings/serving/rerank.py)
        hits = PhotoReranker(index, model).search(query, regions, field, args.k, rows=rows)
    else:
        hits = index.search(query, field, args.k, rows=rows)
    titles = index.recipes["title"]
    if args.json:
        print(
            json.dumps(
                [
                    {"rank": n + 1, "id": h.id, "title": titles.iat[h.row], "score": round(h.score, 4)}
                    for n, h in enumerate(hits)
                ],
                indent=2,
            )
        )
    else:
        how = f"; the first {model.config.rerank} re-ranked by photo regions x ingredients" if reranked else ""
        print(f"top {len(hits)} by {field} similarity in {args.index} ({index.count} recipes){how}")
        for n, hit in enumerate(hits, 1):
            print(f"{n:>3}. {hit.score:6.3f}  {titles.iat[hit.row]}  [{hit.id}]")
    return 0


def run_push(args) -> int:
    result = publish(
        args.model,
        args.index,
        args.repo,
        revision=args.branch,
        private=args.private,
        tag=args.tag,
        license=args.license,
        datasets=args.dataset,
    )
    print(
        f"pushed {len(result['files'])} files to https://huggingface.co/{result['repo']} at commit {result['commit']}"
    )
    print("for a Space's README.md front matter:\n" + result["preload"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner = {"build": run_build, "search": run_search, "push": run_push}[args.command]
    try:
        return runner(args)
    except (CorruptIndexError, FileNotFoundError, PermissionError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
