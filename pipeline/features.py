"""Stage 3 of the pipeline, backbone features and their cache.

The backbones' outputs for every row of a collection are computed once and kept on disk,
so every training epoch, evaluation and index build after that costs seconds, not
minutes, on a CPU. Two kinds of entry, each a safetensors file named by a key:
  text-<key>   "title" (N, H) and "recipe" (N, 2H: ingredients ; instructions) pooled
               text-backbone features; zeros on title-only rows
  views-<key>  per photo, view 0 (the plain crop) and, for the rows named augmented,
               views 1..V-1 (random crops, flips, colour): "pooled" (N, C) backbone
               features and/or, when the top `top` blocks are fine-tuned, "trunk"
               (N, c, h, w) float16 activations below them; "aug_pooled" / "aug_trunk"
               (n_augmented, V-1, ...)
  regions-<key>  "regions" (N, R, C) float16: the pretrained image backbone's last spatial
               map of view 0, for a model with a re-ranker (pipeline/regions.py)
A key covers the backbone, its weights, the preprocessing, the views spec and the rows'
hashes (pipeline/records.row_hash), so changing any of them misses the cache instead of
reusing stale features. Entries hold the collection in id order: any order or split of
the same rows (training, evaluation, index building) reads the same entry.

Under torchrun (a FeatureCache given the world) each rank extracts its batches of an
entry into a shard beside it (pipeline/shard_files.py), rank 0 assembles the entry, and
every rank reads it; a rank killed midway leaves the others' shards, kept for the rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm import tqdm

from model import Retriever, engine
from model.atomic import atomic_write
from model.recipe_lines import SPLITTER_VERSION, RaggedLines

from .lines import LINE_SETTINGS, extract_line_features, merge_line_shards, ragged
from .photos import ViewDataset
from .records import Recipe, collection_hash
from .regions import extract_regions
from .shard_files import read_shard, remove_shards, shard_is_done, shard_stem, write_shard
from .world import World, barrier, broadcast

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recipe-retrieval" / "features"
# Bump when what a views entry holds changes. 2: entries made by a model whose tail was
# fine-tuned hold no "pooled" (the tuned tail's features must never sit under a key that
# names only the pretrained backbone).
VIEWS_FORMAT = 2
IMAGE_SETTINGS = (
    "image_backbone",
    "image_weights",
    "image_size",
    "image_resize",
    "image_width",
    "image_mean",
    "image_std",
    "image_interpolation",
)
# Bump when what a regions entry holds changes.
REGIONS_FORMAT = 1
TITLE_BATCH = 256
VIEW_BATCH = 64
TEXT_SETTINGS = ("title_backbone", "recipe_backbone", "share_text_backbone", "title_max_tokens", "recipe_max_tokens")


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cached_tensors(path: Path | None, compute) -> dict[str, torch.Tensor]:
    """The entry at `path`, or compute() written there (None: no cache, compute only)."""
    if path is None:
        return compute()
    if path.is_file():
        try:
            return load_file(str(path))
        except Exception:  # a damaged cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    tensors = {name: t.contiguous() for name, t in compute().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))  # a killed run never leaves half an entry
    return tensors


def cached_in_shards(path: Path, world: World, compute, merge) -> dict[str, torch.Tensor]:
    """The entry at `path`, made (when no rank finds it) by every rank: compute(world), a
    shard beside the entry (kept if a killed run left it done), merge(shards) by rank 0."""
    if not broadcast(path.is_file(), world):  # one decision for every rank, or the barriers part
        name = path.name.removesuffix(".safetensors")
        stem = shard_stem(path.parent, name, world.rank, world.size)
        key = f"{name}/{world.size}"  # the entry's name covers model, settings and rows
        if not shard_is_done(stem, key):
            write_shard(stem, compute(world), key)
        barrier(world)  # every shard written
        if world.is_main:
            shards = [read_shard(shard_stem(path.parent, name, r, world.size), key) for r in range(world.size)]
            tensors = {k: t.contiguous() for k, t in merge(shards).items()}
            atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
            remove_shards(path.parent, name)
        barrier(world)  # the entry written
    return load_file(str(path))


def assemble(shards: list[dict], rows_of: dict[str, str]) -> dict[str, torch.Tensor]:
    """Each tensor of `rows_of` laid out whole from the shards' rows of it (its row-number
    tensor named by rows_of): the tensor one process would have computed."""
    out = {}
    for name, rows_name in rows_of.items():
        count = sum(len(shard[rows_name]) for shard in shards) if rows_name == "rows" else len(shards[0][name])
        first = shards[0][name]
        whole = torch.zeros(count, *first.shape[1:], dtype=first.dtype)
        for shard in shards:
            rows = shard[rows_name]
            whole[rows] = shard[name] if rows_name == "rows" else shard[name][rows]
        out[name] = whole
    return out


def pretrained_tail(model: Retriever) -> bool:
    """Whether the image backbone is still the pretrained one in its top blocks too, so its
    pooled features may be cached under a key naming the pretrained backbone."""
    record = model.fitted.features
    return record is None or record.finetune_top == 0


@torch.inference_mode()
def extract_text_features(
    model: Retriever,
    recipes: list[Recipe],
    batch_size: int = 64,
    progress: bool = True,
    part: World = World(),
    pooled_recipes: bool = True,
) -> dict[str, torch.Tensor]:
    """title (N, H) for every row; recipe (N, 2H), zeros on title-only rows, and on every
    row without `pooled_recipes` (a model that reads recipes line by line never reads them:
    the pass was the full run's slowest text pass, 2 x 256 tokens a recipe). `part`: only
    this rank's batches (the others' rows zero; "title_rows" / "recipe_rows" say which)."""
    model.eval()
    title = torch.zeros(len(recipes), model.title_encoder.feature_dim)
    titles = part.batch_rows(len(recipes), TITLE_BATCH)
    for start in tqdm(range(0, len(titles), TITLE_BATCH), desc="title features", disable=not progress):
        rows = titles[start : start + TITLE_BATCH]
        title[rows] = model.title_features([recipes[i].title for i in rows]).float().cpu()
    full = [i for i, r in enumerate(recipes) if r.has_recipe and pooled_recipes]
    recipe = torch.zeros(len(recipes), 2 * model.recipe_encoder.feature_dim)
    # Longest texts first so each batch pads to a similar length: ~2x faster than source order.
    full.sort(key=lambda i: -sum(len(s) for s in recipes[i].instructions + recipes[i].ingredients))
    full = [full[j] for j in part.batch_rows(len(full), batch_size)]
    for start in tqdm(range(0, len(full), batch_size), desc="recipe features", disable=not progress):
        rows = full[start : start + batch_size]
        recipe[rows] = model.recipe_features(
            [recipes[i].ingredients for i in rows], [recipes[i].instructions for i in rows]
        ).cpu()
    if part.size == 1:
        return {"title": title, "recipe": recipe}
    return {
        "title": title,
        "recipe": recipe,
        "title_rows": torch.tensor(titles, dtype=torch.int64),
        "recipe_rows": torch.tensor(full, dtype=torch.int64),
    }


@torch.inference_mode()
def extract_views(
    model: Retriever,
    items: list[tuple[Recipe, int]],
    top: int,
    batch_size: int = VIEW_BATCH,
    workers: int = 1,
    progress: bool = True,
    part: World = World(),
) -> dict[str, torch.Tensor]:
    """Each (photo, view) item through the image backbone: with top > 0 "trunk", the
    float16 activations below the top `top` blocks; "pooled", the pooled features, only
    while the backbone's tail is the pretrained one (pretrained_tail). `part`: only this
    rank's batches, their items in order ("rows" says which)."""
    mine = part.batch_rows(len(items), batch_size)
    items = [items[i] for i in mine]
    model.eval()
    encoder = model.image_encoder
    keep_pooled = pretrained_tail(model)
    if not top and not keep_pooled:
        raise ValueError("a fine-tuned image backbone has no cached pooled features; use its trunk (top > 0)")
    loader = DataLoader(ViewDataset(items, model), batch_size=batch_size, num_workers=workers)
    pooled, trunk = [], []
    for pixels in tqdm(loader, desc="photo views", unit="batch", disable=not progress):
        below = encoder.forward_trunk(pixels.to(model.device), top)
        if keep_pooled:
            pooled.append(encoder.forward_tail(below, top).cpu())
        if top:
            trunk.append(below.cpu().to(torch.float16).contiguous())
    out = {"pooled": torch.cat(pooled)} if keep_pooled else {}
    if top:
        out["trunk"] = torch.cat(trunk)
    return out if part.size == 1 else {**out, "rows": torch.tensor(mine, dtype=torch.int64)}


class FeatureCache:
    """The cached backbone features of one collection (rows in any order) in one folder
    (None: compute every time, write nothing)."""

    def __init__(
        self,
        folder: str | Path | None,
        recipes: list[Recipe],
        progress: bool = True,
        world: World = World(),
        precision: dict[str, str] | None | str = "auto",
    ):
        """precision: the inference engine's per backbone ({"image": "fp32", "text": "int8"}),
        None for torch, "auto" for the engine's default where it is installed and there is
        a folder to keep its graphs in (model/engine.py). Entries made by the engine are
        keyed by it, so torch, fp32 and int8 features never mix."""
        self.folder = None if folder is None else Path(folder)
        if precision == "auto":
            precision = engine.default_precision() if self.folder is not None else None
        self.precision = precision
        self.recipes, self.progress, self.world = recipes, progress, world
        self.canonical = sorted(recipes, key=lambda r: r.id)
        position = {r.id: i for i, r in enumerate(self.canonical)}
        self._rows = torch.tensor([position[r.id] for r in recipes], dtype=torch.long)  # canonical -> given order
        self._data: str | None = None

    @property
    def data(self) -> str:
        """The rows' hash (reads every photo once: about a second per 10k)."""
        if self._data is None:
            self._data = collection_hash(self.canonical)
        return self._data

    def _path(self, kind: str, parts: dict) -> Path | None:
        if self.folder is None:
            return None
        if self.precision is not None:  # torch's entries keep the keys they had before the engine
            parts = {**parts, "engine": engine.engine_tag(self.precision)}
        return self.folder / f"{kind}-{_key({'v': 1, **parts, 'data': self.data})}.safetensors"

    def _on_engine(self, model: Retriever, compute, image_tops=(), text: bool = False):
        """compute, wrapped so that `model`'s backbone passes run on the engine's graphs
        (kept in <folder>/engine) while it runs, and on torch again afterwards."""
        if self.precision is None:
            return compute

        def run(part):
            engine.attach(model, self.folder / "engine", self.precision, image_tops, text)
            try:
                return compute(part)
            finally:
                engine.detach(model)

        return run

    def text_path(self, model: Retriever) -> Path | None:
        parts = {"text": {k: getattr(model.config, k) for k in TEXT_SETTINGS}}
        if model.reads_lines:  # its entry holds no pooled recipe features (pooled models' keys unchanged)
            parts["pooled_recipes"] = False
        return self._path("text", parts)

    def lines_path(self, model: Retriever) -> Path | None:
        settings = {k: getattr(model.config, k) for k in LINE_SETTINGS}
        return self._path("lines", {"lines": settings, "splitter": SPLITTER_VERSION})

    def lines(self, model: Retriever) -> dict[str, RaggedLines]:
        """{"ingredients", "steps"}: each row's per-line text features (RaggedLines,
        float16), row-aligned with the rows given; extracted once per collection."""
        tensors = self._entry(
            self.lines_path(model),
            self._on_engine(
                model, lambda part: extract_line_features(model, self.canonical, self.progress, part), text=True
            ),
            lambda shards: merge_line_shards(model, self.canonical, shards),
        )
        return ragged(tensors, self._rows)

    def views_path(self, model: Retriever, views: int, top: int, augmented: set[str] | None) -> Path | None:
        chosen = self._augmented(views, augmented)
        spec = {
            "views": views,
            "top": top,
            "format": VIEWS_FORMAT,
            "augmented": hashlib.sha256("\n".join(r.id for r in chosen).encode()).hexdigest(),
        }
        image = {k: getattr(model.config, k) for k in IMAGE_SETTINGS}
        return self._path("views", {"image": image, "extra": spec})

    def regions_path(self, model: Retriever) -> Path | None:
        image = {k: getattr(model.config, k) for k in IMAGE_SETTINGS}
        return self._path("regions", {"image": image, "extra": {"format": REGIONS_FORMAT, "view": 0}})

    def regions(self, model: Retriever) -> torch.Tensor:
        """(N, R, C) float16 last-feature-map regions of every photo's plain crop,
        row-aligned with the rows given; extracted once. Only a pretrained tail's regions
        are cached (a fine-tuned one's come from its trunk: pipeline/regions.tail_regions)."""
        if not pretrained_tail(model):
            raise ValueError("a fine-tuned image backbone's regions are not cached; compute them from its trunk")
        tensors = self._entry(
            self.regions_path(model),
            self._on_engine(model, lambda part: extract_regions(model, self.canonical, self.progress, part), (0,)),
            lambda shards: assemble(shards, {"regions": "rows"}),
        )
        return tensors["regions"][self._rows]

    def _augmented(self, views: int, augmented: set[str] | None) -> list[Recipe]:
        if views == 1:
            return []
        return [r for r in self.canonical if augmented is None or r.id in augmented]

    def text(self, model: Retriever) -> dict[str, torch.Tensor]:
        """{"title": (N, H), "recipe": (N, 2H)} backbone features, row-aligned with the rows given
        (recipe all zeros for a model that reads lines: it reads cache.lines instead)."""
        tensors = self._entry(
            self.text_path(model),
            self._on_engine(
                model,
                lambda part: extract_text_features(
                    model, self.canonical, progress=self.progress, part=part, pooled_recipes=not model.reads_lines
                ),
                text=True,
            ),
            lambda parts: assemble(parts, {"title": "title_rows", "recipe": "recipe_rows"}),
        )
        return {name: tensor[self._rows] for name, tensor in tensors.items()}

    def _entry(self, path: Path | None, compute, merge) -> dict[str, torch.Tensor]:
        """The entry at `path`: compute(World()) in a world of one (or with no cache); else
        each rank's compute(world) shard, merged by rank 0 (merge(shards)) and read by all."""
        if self.world.size == 1 or path is None:
            return cached_tensors(path, lambda: compute(World()))
        return cached_in_shards(path, self.world, compute, merge)

    def photos(
        self, model: Retriever, views: int = 1, top: int = 0, augmented: set[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Cached views of every photo, row-aligned with the rows given: "pooled" (N, C)
        and/or "trunk" (N, c, h, w), view 0 of every row; "aug_pooled" / "aug_trunk"
        (N, V-1, ...): views 1..V-1 of the rows whose id is in `augmented` (None: all; the
        training rows, as evaluation never reads augmented views), zeros elsewhere."""
        chosen = self._augmented(views, augmented)
        items = [(r, 0) for r in self.canonical] + [(r, v) for r in chosen for v in range(1, views)]

        def split(flat: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            n = len(self.canonical)
            out = {name: t[:n] for name, t in flat.items()}
            if chosen:
                out.update(
                    {f"aug_{name}": t[n:].reshape(len(chosen), views - 1, *t.shape[1:]) for name, t in flat.items()}
                )
            return out

        def merge(parts: list[dict]) -> dict[str, torch.Tensor]:
            return split(assemble(parts, {name: "rows" for name in parts[0] if name != "rows"}))

        tensors = self._entry(
            self.views_path(model, views, top, augmented),
            self._on_engine(
                model,
                lambda part: (
                    split(extract_views(model, items, top, progress=self.progress, part=part))
                    if part.size == 1
                    else extract_views(model, items, top, progress=self.progress, part=part)
                ),
                (top,),
            ),
            merge,
        )
        out = {name: tensor[self._rows] for name, tensor in tensors.items() if not name.startswith("aug_")}
        aug_position = {r.id: i for i, r in enumerate(chosen)}
        have = [(i, aug_position[r.id]) for i, r in enumerate(self.recipes) if r.id in aug_position]
        for name in [n for n in tensors if n.startswith("aug_")]:
            full = torch.zeros(len(self.recipes), *tensors[name].shape[1:], dtype=tensors[name].dtype)
            full[[i for i, _ in have]] = tensors[name][[j for _, j in have]]
            out[name] = full
        return out
