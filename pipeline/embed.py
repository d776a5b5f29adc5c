"""Embed a collection: every row's unit vectors in the shared space, the one way that
evaluation, query-expansion fitting and index building all use.

A model trained on cached features (what `python -m train` does unless --live) keeps the
pretrained weights below its trained parts, and training already cached their outputs:
for such a model only the heads (and a fine-tuned photo tail) run. Any other model runs
every backbone on every row, in length-sorted batches, photos decoded on threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from model import Retriever

from .photos import plain_pixels
from .records import Recipe
from .sources import evaluation_source
from .world import World

IMAGE_BATCH = 32
TEXT_BATCH = 64
RECIPE_BATCH = 16  # recipe texts run to 2 x 256 tokens: smaller batches, less padding
HEADS_BATCH = 1024  # rows per step when only the heads run


def with_fused(embeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Adds "fused", normalize(title + recipe): the recipe vector that also knows the dish's name."""
    return {**embeds, "fused": F.normalize(embeds["title"] + embeds["recipe"], dim=-1)}


def embed_source(
    model: Retriever,
    source,
    device: torch.device = torch.device("cpu"),
    batch_size: int = HEADS_BATCH,
    part: World = World(),
) -> dict[str, torch.Tensor]:
    """The heads over every row of a source (eval mode): image/title/recipe/fused (N, D) on
    the CPU. `part`: run only this rank's batches (the others' rows stay zero)."""
    D = model.config.embed_dim
    out = {name: torch.zeros(len(source), D) for name in ("image", "title", "recipe")}
    with torch.no_grad():
        for number, start in enumerate(range(0, len(source), batch_size)):
            if not part.runs(number):
                continue
            rows = torch.arange(start, min(start + batch_size, len(source)))
            features = source.batch(rows, device, training=False)
            out["image"][rows] = model.embed_image_features(features["image"]).float().cpu()
            out["title"][rows] = model.embed_title_features(features["title"]).float().cpu()
            out["recipe"][rows] = model.embed_recipe_features(features["recipe"]).float().cpu()
    return with_fused(out)


def _batched(
    items: list,
    batch_size: int,
    encode: Callable[[list], torch.Tensor],
    dim: int,
    desc: str,
    progress: bool,
    order: list[int] | None = None,
    part: World = World(),
) -> torch.Tensor:
    """Run `encode` over `items` in batches (visiting them in `order`, e.g. by length so a
    batch pads to similar lengths) and return rows in the original order. `part`: run only
    this rank's batches, the very batches a single run makes (the others' rows stay zero)."""
    order = list(range(len(items))) if order is None else order
    out = torch.zeros(len(items), dim)
    with tqdm(total=len(items), desc=desc, unit="row", disable=not progress) as bar, torch.no_grad():
        for number, start in enumerate(range(0, len(order), batch_size)):
            if not part.runs(number):
                continue
            rows = order[start : start + batch_size]
            out[rows] = encode([items[i] for i in rows]).float().cpu()
            bar.update(len(rows))
    return out


def encode_live(
    model: Retriever, recipes: list[Recipe], progress: bool = True, part: World = World()
) -> dict[str, torch.Tensor]:
    """Every backbone over every row: image and title (N, D), recipe (N, D) on rows with one.
    `part`: this rank's batches only (live_rows says which rows those are)."""
    D = model.config.embed_dim
    # Decoding + resizing a photo costs about a third of the backbone's time on a CPU:
    # threads prepare the next batch's pixels while the model runs on this one.
    with ThreadPoolExecutor(max_workers=2) as pool:
        image = _batched(
            recipes,
            IMAGE_BATCH,
            lambda batch: model.encode_image(torch.stack(list(pool.map(lambda r: plain_pixels(model, r), batch)))),
            D,
            "photos",
            progress,
            part=part,
        )
    by_title = title_order(recipes)
    title = _batched(
        recipes,
        TEXT_BATCH,
        lambda batch: model.encode_title([r.title for r in batch]),
        D,
        "titles",
        progress,
        by_title,
        part,
    )
    recipe = torch.zeros(len(recipes), D)
    full = [r for r in recipes if r.has_recipe]
    if full:
        by_length = recipe_order(full)
        recipe[[i for i, r in enumerate(recipes) if r.has_recipe]] = _batched(
            full,
            RECIPE_BATCH,
            lambda batch: model.encode_recipe(
                [r.ingredients for r in batch], [r.instructions for r in batch], [r.title for r in batch]
            ),
            D,
            "recipes",
            progress,
            by_length,
            part,
        )
    return {"image": image, "title": title, "recipe": recipe}


def title_order(recipes: list[Recipe]) -> list[int]:
    return sorted(range(len(recipes)), key=lambda i: len(recipes[i].title))


def recipe_order(full: list[Recipe]) -> list[int]:
    """Rows with a recipe by text length, so a batch pads to similar lengths."""
    return sorted(range(len(full)), key=lambda i: sum(map(len, full[i].ingredients + full[i].instructions)))


def live_rows(recipes: list[Recipe], part: World) -> dict[str, torch.Tensor]:
    """Which rows of each field encode_live computes for `part`: (N,) bool masks."""
    done = {name: torch.zeros(len(recipes), dtype=torch.bool) for name in ("image", "title", "recipe")}
    done["image"][part.batch_rows(len(recipes), IMAGE_BATCH)] = True
    done["title"][part.batch_rows(len(recipes), TEXT_BATCH, title_order(recipes))] = True
    full = [i for i, r in enumerate(recipes) if r.has_recipe]
    picked = part.batch_rows(len(full), RECIPE_BATCH, recipe_order([recipes[i] for i in full]))
    done["recipe"][[full[i] for i in picked]] = True
    return done


def embed_collection(
    model: Retriever, recipes: list[Recipe], cache_dir=None, progress: bool = True
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """({"image", "title", "recipe", "fused"}: (N, D) float32 unit vectors, "recipe" zero on
    rows without a recipe; has_recipe (N,) bool), row-aligned with `recipes`. `cache_dir`:
    the backbone feature cache (None: never read or written)."""
    embeds, _ = embed_part(model, recipes, cache_dir, progress)
    has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
    return with_fused(embeds), has_recipe


def embed_part(
    model: Retriever, recipes: list[Recipe], cache_dir=None, progress: bool = True, part: World = World()
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The "image", "title", "recipe" vectors of the rows `part` computes (every row in a
    world of one), in the very batches a single run makes, so each rank's rows are
    bit for bit what one process computes; and field -> (N,) bool, the rows computed."""
    model.eval()
    has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
    source = evaluation_source(model, recipes, cache_dir, progress) if cache_dir is not None else None
    if source is not None:
        embeds = embed_source(model, source, part=part)
        rows = torch.zeros(len(recipes), dtype=torch.bool)
        rows[part.batch_rows(len(recipes), HEADS_BATCH)] = True
        done = {name: rows for name in ("image", "title", "recipe")}
    else:
        embeds, done = encode_live(model, recipes, progress, part), live_rows(recipes, part)
    recipe = embeds["recipe"] * has_recipe[:, None]  # title-only rows have no recipe vector
    done = {**done, "recipe": done["recipe"] & has_recipe}
    return {"image": embeds["image"], "title": embeds["title"], "recipe": recipe}, done
