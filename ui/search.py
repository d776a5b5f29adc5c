"""The four searches as plain functions over a loaded index and model.

Each handler returns the same five values, one per component of a tab's result panel:
    gallery  list[(image path, caption)]   best match first
    results  list[dict]                    rank, id, title, score, ingredients, instructions
    photo    image path | None             the photo of the recipe shown in the card
    card     HTML                          the first result's recipe card (escaped)
    status   HTML                          what was found + any fix applied to the input
so they can be called from tests, from the UI, and by gradio_client alike.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from model.atomic import atomic_write_bytes

from . import inputs, render
from .duplicates import RowHashes

# Which stored vectors each query is compared with (fields of embeddings' index). A photo
# is compared with the recipe vector the model chose on val (model.fitted.recipe_vector):
# the one its image->recipe figures were scored with.
# normalize(title + recipe) of each row: a typed name matches a dish by its name and by
# what is in it ("lemon chicken" finds a recipe titled "Poulet au citron" with lemons).
TITLE_TO_RECIPE_FIELD = "fused"
RECIPE_TO_PHOTO_FIELD = "image"
SIMILAR_PHOTO_FIELD = "image"
# "Similar dishes" searches this many rows beyond k, so that leaving out copies of the
# query photo (ui/duplicates.py) still leaves k; the sample repeats a photo at most a few times.
SIMILAR_EXTRA = 8


# One intra-op thread per search. On a 2-vCPU machine that other processes share (a free
# Space, this dev box), torch's two threads wait on each other at every op: measured under
# load, 512 ms instead of 10 ms for a title and 1.6 s instead of 27 ms for a photo.
# Parallelism comes from running two searches at once instead (layout.MODEL_CONCURRENCY).
TORCH_THREADS = 1


def configure_torch_for_serving() -> None:
    torch.set_num_threads(TORCH_THREADS)


# How ThumbnailFiles writes a row's file; part of the thumbnails folder's key (ui/storage.py).
THUMBNAIL_FORMAT = "index-jpeg"


class ThumbnailFiles:
    """Row -> a JPEG on disk, written on first use. Gradio galleries serve files. The file is
    the index's own thumbnail, byte for byte (192 px, JPEG q70: ~6 kB): nothing is decoded
    or re-encoded, and the browser fetches the smallest file that still fills a tile. The
    folder is served as Gradio static files (ui/layout.py), so answers need no copy of it."""

    def __init__(self, index, folder: str | Path | None = None):
        self.index = index
        self.folder = Path(folder or tempfile.mkdtemp(prefix="recipe-thumbnails-"))
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, row: int) -> str:
        path = self.folder / f"{row}.jpg"
        if not path.exists():
            # Written whole, then renamed: a concurrent request never serves half a file.
            atomic_write_bytes(path, self.index.thumbnail_bytes(row))
        return str(path)


class RecipeSearch:
    """`photo_folders`: where a photo given as a path may be read from (default: the
    folders Gradio writes what it received to, ui.inputs.gradio_folders, and the thumbnails
    folder, which Gradio serves as static files: an example photo arrives from there)."""

    def __init__(self, index, model, thumbnail_folder: str | Path | None = None, photo_folders=None):
        self.index = index
        self.model = model.eval()
        self.recipes = index.recipes
        self.has_recipe = index.has_recipe
        self.photo_to_recipe_field = self.model.fitted.recipe_vector
        self.thumbnails = ThumbnailFiles(index, thumbnail_folder)
        self.photo_folders = None if photo_folders is None else [Path(folder) for folder in photo_folders]
        self.row_hashes = RowHashes(index)
        probe = np.ones(index.dim, dtype=np.float32)
        for field in {TITLE_TO_RECIPE_FIELD, self.photo_to_recipe_field, RECIPE_TO_PHOTO_FIELD}:
            index.search(probe, field, 1)  # builds each field's searcher now, not on the first request
        self.title_limit = inputs.MAX_TITLE_CHARS
        self.recipe_limit = inputs.MAX_RECIPE_CHARS

    # --- the four endpoints ------------------------------------------------------------
    def photo_to_recipe(self, photo, top_k=inputs.TOP_K_DEFAULT):
        """A photo of a dish -> the recipes that best match it."""
        k, notes = inputs.clamp_top_k(top_k)
        query = self._expand("image_to_recipe", self._encode_photo(self._read_photo(photo)))
        hits = self._search(query, self.photo_to_recipe_field, k, recipes_only=True)
        return self._answer(hits, notes, ("recipe matches this photo", "recipes match this photo"))

    def title_to_recipe(self, title, top_k=inputs.TOP_K_DEFAULT):
        """A dish title -> matching recipes, with photos and instructions."""
        k, notes = inputs.clamp_top_k(top_k)
        title, more = inputs.clean_text(title, self.title_limit, "title")
        inputs.require_text(title, "Type a dish name first, for example \u201cchocolate cake\u201d.")
        with torch.no_grad():
            query = self.model.encode_title([title])[0]
        hits = self._search(query, TITLE_TO_RECIPE_FIELD, k, recipes_only=True)
        return self._answer(hits, notes + more, ("recipe matches this title", "recipes match this title"))

    def recipe_to_photo(self, ingredients, instructions, top_k=inputs.TOP_K_DEFAULT):
        """Ingredients and/or instructions (one per line) -> photos of dishes like it."""
        k, notes = inputs.clamp_top_k(top_k)
        ingredients, more_i = inputs.clean_text(ingredients, self.recipe_limit, "ingredient list")
        instructions, more_s = inputs.clean_text(instructions, self.recipe_limit, "instructions")
        inputs.require_text(ingredients or instructions, "Paste some ingredients or instructions first.")
        with torch.no_grad():
            query = self.model.encode_recipe([inputs.split_lines(ingredients)], [inputs.split_lines(instructions)])[0]
        hits = self._search(self._expand("recipe_to_image", query), RECIPE_TO_PHOTO_FIELD, k, recipes_only=False)
        return self._answer(hits, notes + more_i + more_s, ("photo matches this recipe", "photos match this recipe"))

    def similar_photos(self, photo, top_k=inputs.TOP_K_DEFAULT):
        """A photo -> the most similar photos in the collection, copies of the photo itself
        (the same picture re-saved, resized or slightly cropped) left out."""
        k, notes = inputs.clamp_top_k(top_k)
        image = self._read_photo(photo)
        hits = self._search(self._encode_photo(image), SIMILAR_PHOTO_FIELD, k + SIMILAR_EXTRA, recipes_only=False)
        copies = self.row_hashes.copies_of(image, [hit.row for hit in hits])
        hits = [hit for hit in hits if hit.row not in copies]
        return self._answer(hits[:k], notes, ("similar dish", "similar dishes"))

    def show_result(self, results, position):
        """A result chosen in the gallery -> (photo, card) for that recipe."""
        if not results or position is None or not 0 <= int(position) < len(results):
            return None, render.PLACEHOLDER_CARD
        chosen = results[int(position)]
        row = int(chosen["row"])
        card = render.recipe_card(chosen["title"], chosen["ingredients"], chosen["instructions"], chosen["score"])
        return self.thumbnails.path(row), card

    # --- shared steps ----------------------------------------------------------------------
    def _expand(self, direction: str, query: torch.Tensor) -> torch.Tensor:
        """The query expansion training chose on val for this direction (model/expansion.py);
        the query unchanged for models without it."""
        with torch.no_grad():
            return self.model.expand(direction, query.unsqueeze(0))[0]

    def _read_photo(self, photo):
        folders = self.photo_folders or [*inputs.gradio_folders(), self.thumbnails.folder]
        return inputs.read_photo(photo, folders)

    def _encode_photo(self, image) -> torch.Tensor:
        try:
            with torch.no_grad():
                return self.model.encode_photos([image])[0]
        except (OSError, ValueError):
            # A frame that decodes lazily (some GIF/TIFF variants) can still fail here.
            raise gr.Error(inputs.DAMAGED_PHOTO) from None

    def _search(self, query: torch.Tensor, field: str, k: int, recipes_only: bool) -> list:
        vector = query.detach().cpu().float().numpy().astype(np.float32)
        if not np.isfinite(vector).all() or not vector.any():
            # The index refuses such a vector; say so in the visitor's terms.
            raise gr.Error("This input could not be turned into a search; please try another photo or text.")
        return self.index.search(vector, field, k, rows=self.has_recipe if recipes_only else None)

    def _answer(self, hits: list, notes: list[str], what: tuple[str, str]):
        """`what`: the status line's words after the count, for one result and for more."""
        for note in notes:
            gr.Warning(note)
        results = [self._result(rank, hit) for rank, hit in enumerate(hits, start=1)]
        gallery = [(self.thumbnails.path(r["row"]), render.caption(r["title"], r["score"])) for r in results]
        photo, card = self.show_result(results, 0)
        summary = (
            f"{len(results)} {what[0] if len(results) == 1 else what[1]}."
            if results
            else "Nothing in the collection matches; try other words or another photo."
        )
        return gallery, results, photo, card, render.status_line(summary, notes)

    def _result(self, rank: int, hit) -> dict:
        row = self.recipes.iloc[hit.row]
        return {
            "rank": rank,
            "row": int(hit.row),
            "id": str(hit.id),
            "title": str(row["title"]),
            "score": round(float(hit.score), 4),
            "ingredients": [str(item) for item in row["ingredients"]],
            "instructions": [str(item) for item in row["instructions"]],
        }
