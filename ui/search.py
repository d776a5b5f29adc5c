"""The five searches as plain functions over a loaded index and model.

Each handler returns the same five values, one per component of a tab's result panel:
    gallery  list[(image path, caption)]   best match first
    results  list[dict]                    rank, id, title, score, ingredients, instructions
    photo    image path | None             the photo of the recipe shown in the card
    card     HTML                          the first result's recipe card (escaped)
    status   HTML                          what was found + any fix applied to the input
so they can be called from tests, from the UI, and by gradio_client alike.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import torch
from gradio.context import LocalContext

from embeddings.serving.index import Hit
from embeddings.serving.ingredients import IngredientWords, term_text
from embeddings.serving.neighbours import recipe_neighbours
from embeddings.serving.pantry import pantry_matches
from embeddings.serving.refine import BUT_WEIGHT, blend
from embeddings.serving.rerank import PhotoReranker

from . import explain, filters, inputs, render, uploads
from .clean import recipe_text, without_site_markup
from .confidence import CLOSEST, AnswerConfidence, looks_like_sentence, status_sentence
from .decoding import unreadable_message
from .duplicates import RowHashes
from .thumbnail_files import ThumbnailFiles, is_thumbnail

# Which stored vectors each query is compared with (fields of embeddings' index). A photo
# is compared with the recipe vector the model chose on val (model.fitted.recipe_vector):
# the one its image->recipe figures were scored with.
# normalize(title + recipe) of each row: a typed name matches a dish by its name and by
# what is in it ("lemon chicken" finds a recipe titled "Poulet au citron" with lemons).
TITLE_TO_RECIPE_FIELD = "fused"
# Your ingredient list is read as a recipe's ingredient lines and compared with recipe texts
# alone: the title says nothing about what a dish needs.
PANTRY_FIELD = "recipe"
RECIPE_TO_PHOTO_FIELD = "image"
SIMILAR_PHOTO_FIELD = "image"
# "Similar dishes" searches this many rows beyond k, so that leaving out copies of the
# query photo (ui/duplicates.py) still leaves k; the sample repeats a photo at most a few times.
SIMILAR_EXTRA = 8
CARD_COLUMNS = ("title", "ingredients", "instructions")  # what a result card shows of its row


# One intra-op thread per search. On a 2-vCPU machine that other processes share (a free
# Space, this dev box), torch's two threads wait on each other at every op: measured under
# load, 512 ms instead of 10 ms for a title and 1.6 s instead of 27 ms for a photo.
# Parallelism comes from running two searches at once instead (layout.MODEL_CONCURRENCY).
TORCH_THREADS = 1


def configure_torch_for_serving() -> None:
    torch.set_num_threads(TORCH_THREADS)


def endpoint(method):
    """Marks a RecipeSearch method the page calls: ENDPOINTS is read from these marks, so a
    new tab's handler is delegated across the swap to the full model (ui/upgrade.py) by
    being marked, not by being added to a second list."""
    method.is_endpoint = True
    return method


class RecipeSearch:
    """`photo_folders`: where a photo given as a path may be read from (default: the
    folders Gradio writes what it received to, ui.inputs.gradio_folders, and the thumbnails
    folder, which Gradio serves as static files: an example photo arrives from there)."""

    def __init__(self, index, model, thumbnail_folder: str | Path | None = None, photo_folders=None):
        self.index = index
        self.model = model.eval()
        self.recipes = index.recipes
        # The columns a result card shows, as arrays read by row: pandas' per-row access
        # cost ~0.15 ms a result, a tenth of a photo answer's time outside the backbone.
        self.card_columns = {c: self.recipes[c].to_numpy() for c in CARD_COLUMNS}
        self.has_recipe = index.has_recipe
        self.photo_to_recipe_field = self.model.fitted.recipe_vector
        self.thumbnails = ThumbnailFiles(index, thumbnail_folder)
        self.photo_folders = None if photo_folders is None else [Path(folder) for folder in photo_folders]
        # Thumbnail folders of a search this one replaced (ui/upgrade.py): examples point there.
        self.photo_folders_extra: list[Path] = []
        self.row_hashes = RowHashes(index)
        # A model trained with --rerank K re-orders a photo's top K recipes (embeddings/serving/rerank.py).
        self.reranker = PhotoReranker(index, self.model) if self.model.reranks else None
        self.words = IngredientWords(index.column("ingredients"), index.column("title"))
        self.confidence = AnswerConfidence(self.model.fitted.confidence)
        self.row_of_id = {str(recipe_id): row for row, recipe_id in enumerate(index.column("id"))}
        probe = np.ones(index.dim, dtype=np.float32)
        for field in {TITLE_TO_RECIPE_FIELD, self.photo_to_recipe_field, RECIPE_TO_PHOTO_FIELD, PANTRY_FIELD}:
            index.search(probe, field, 1)  # builds each field's searcher now, not on the first request
        # The pipeline's resize (model/preprocess.py): what a photo's decoding is budgeted against.
        self.resize_to = max(self.model.config.image_resize, self.model.config.image_size)
        self.title_limit = inputs.MAX_TITLE_CHARS
        self.recipe_limit = inputs.MAX_RECIPE_CHARS

    # --- the endpoints (@endpoint: ENDPOINTS below lists them) ---------------------------
    @endpoint
    def photo_to_recipe(
        self,
        photo,
        top_k=inputs.TOP_K_DEFAULT,
        but="",
        but_weight=BUT_WEIGHT,
        without="",
        must_have="",
        diets=None,
    ):
        """A photo of a dish -> the recipes that best match it. `but`: a few words that move
        the search toward them ("with chicken", "as a soup"), by `but_weight` (0: the photo
        alone, 1: the words alone). `without`, `must_have`, `diets`: ingredient filters."""
        k, notes = inputs.clamp_top_k(top_k)
        chosen = self._filters(without, must_have, diets, notes)
        but, more = inputs.clean_text(but, self.title_limit, "\u201cbut\u201d words")
        weight, more_w = inputs.clamp_weight(but_weight, BUT_WEIGHT)
        notes += more + more_w
        parts = self._encode_photo(self._read_photo(photo), with_regions=self.reranker is not None)
        query = self._expand("image_to_recipe", parts.vectors[0])
        but_words, moved = explain.query_words(but), ""
        if but.strip() and but_words:
            with torch.no_grad():
                query = blend(query, self.model.encode_title([but])[0], weight)
            moved = f" Moved toward \u201c{inputs.shown(but.strip())}\u201d (weight {weight:g})."
        elif but.strip():
            notes.append("The \u201cbut\u201d words had no letters to read; the photo alone was searched.")
        allowed = chosen.mask(self.words, self.has_recipe)
        # The CLOSEST results vote on what the dish looks like, however few are shown.
        wanted = max(k, CLOSEST)
        if self.reranker is not None:  # the same top K, re-ordered by the photo's regions x ingredients
            hits = self.reranker.search(
                self._vector(query), parts.regions[0], self.photo_to_recipe_field, wanted, rows=allowed
            )
        else:
            hits = self._search(query, self.photo_to_recipe_field, wanted, rows=allowed)
        # The ingredient head reads the photo's vector before debiasing, as it was trained.
        likely = explain.photo_ingredients(self.model, parts.plain[0])
        why = explain.why_maker(self.words, likely=likely, typed=but_words, chosen=chosen, others=hits[:k])
        what = ("recipe matches this photo" + moved, "recipes match this photo" + moved)
        looks = self.confidence.looks_like([str(self.recipes.title.iat[hit.row]) for hit in hits])
        answer = self._confidence("image_to_recipe", hits, k, looks)
        return self._answer(hits[:k], notes, what, why, k, chosen, answer)

    @endpoint
    def title_to_recipe(self, title, top_k=inputs.TOP_K_DEFAULT, without="", must_have="", diets=None):
        """A dish title -> matching recipes, with photos and instructions, ingredient filters applied."""
        k, notes = inputs.clamp_top_k(top_k)
        chosen = self._filters(without, must_have, diets, notes)
        title, more = inputs.clean_text(title, self.title_limit, "title")
        inputs.require_text(title, "Type a dish name first, for example \u201cchocolate cake\u201d.")
        explain.require_letters(title, "title")
        with torch.no_grad():
            query = self.model.encode_title([title])[0]
        hits = self._search(query, TITLE_TO_RECIPE_FIELD, max(k, 2), rows=chosen.mask(self.words, self.has_recipe))
        why = explain.why_maker(self.words, typed=explain.query_words(title), chosen=chosen)
        answer = self._confidence("title_to_recipe", hits, k)
        return self._answer(
            hits[:k], notes + more, ("recipe matches this title", "recipes match this title"), why, k, chosen, answer
        )

    @endpoint
    def cook_from_what_i_have(self, have, top_k=inputs.TOP_K_DEFAULT, without="", diets=None):
        """Ingredients you have (one per line or comma-separated) -> the recipes that use the
        most of them and need the fewest others (ranking: embeddings/serving/pantry.py)."""
        k, notes = inputs.clamp_top_k(top_k)
        chosen = self._filters(without, "", diets, notes)
        yours = filters.read_terms(have, "ingredient list", notes)
        if not yours:
            unreadable = [note for note in notes if "no words to match" in note]
            raise gr.Error(
                unreadable[-1]
                if unreadable
                else "List the ingredients you have first, one per line or separated by commas, e.g. "
                "\u201ceggs, spinach, feta\u201d."
            )
        with torch.no_grad():
            query = self.model.encode_recipe([[term_text(term) for term in yours]], [[]])[0]
        vector = self._vector(query)
        allowed = chosen.mask(self.words, self.has_recipe)
        matches, found = pantry_matches(self.index, self.words, vector, yours, allowed, filters.STAPLES, k)
        marked = {word for term in yours for word in term}
        results = []
        for rank, match in enumerate(matches, start=1):
            reasons = [f"Uses {len(match.uses)} of yours: {', '.join(match.uses)}."]
            reasons.append(
                f"Still needs {len(match.needs)}: {'; '.join(match.needs)}."
                if match.needs
                else "Needs nothing more than yours and staples (salt, pepper, water, oil)."
            )
            results.append(self._result(rank, match, {"reasons": reasons, "marked": sorted(marked)}))
        if found == 0:
            summary = (
                "No recipe in the collection uses any of these ingredients"
                + (" and passes the filters" if chosen.active else "")
                + "; check the spelling or try fewer, more common ones."
            )
        else:
            summary = f"{len(results)} {'recipe uses' if len(results) == 1 else 'recipes use'} what you have"
            summary += f" (of {found:,} using at least one)."
            summary += f" Filtered: {chosen.describe()}." if chosen.active else ""
        return self._reply(results, notes, summary)

    @endpoint
    def recipe_to_photo(self, ingredients, instructions, top_k=inputs.TOP_K_DEFAULT):
        """Ingredients and/or instructions (one per line) -> photos of dishes like it."""
        k, notes = inputs.clamp_top_k(top_k)
        ingredients, more_i = inputs.clean_text(ingredients, self.recipe_limit, "ingredient list")
        instructions, more_s = inputs.clean_text(instructions, self.recipe_limit, "instructions")
        inputs.require_text(ingredients or instructions, "Paste some ingredients or instructions first.")
        explain.require_letters(ingredients + " " + instructions, "recipe")
        with torch.no_grad():
            query = self.model.encode_recipe([inputs.split_lines(ingredients)], [inputs.split_lines(instructions)])[0]
        hits = self._search(self._expand("recipe_to_image", query), RECIPE_TO_PHOTO_FIELD, max(k, 2))
        answer = self._confidence("recipe_to_image", hits, k)
        what = ("photo matches this recipe", "photos match this recipe")
        return self._answer(hits[:k], notes + more_i + more_s, what, answer=answer)

    @endpoint
    def similar_photos(self, photo, top_k=inputs.TOP_K_DEFAULT):
        """A photo -> the most similar photos in the collection, copies of the photo itself
        (the same picture re-saved, resized or slightly cropped) left out."""
        k, notes = inputs.clamp_top_k(top_k)
        image = self._read_photo(photo)
        hits = self._search(self._encode_photo(image).vectors[0], SIMILAR_PHOTO_FIELD, k + SIMILAR_EXTRA)
        copies = self.row_hashes.copies_of(image, [hit.row for hit in hits])
        hits = [hit for hit in hits if hit.row not in copies]
        return self._answer(hits[:k], notes, ("similar dish", "similar dishes"))

    @endpoint
    def more_like_this(self, recipe_id, top_k=inputs.TOP_K_DEFAULT):
        """A recipe's id (a result's "id") -> the recipes nearest it, by its own recipe and
        photo vectors (embeddings/serving/neighbours.py), itself left out."""
        k, notes = inputs.clamp_top_k(top_k)
        row = self.row_of_id.get(str(recipe_id if recipe_id is not None else "").strip()[:500])
        if row is None:
            raise gr.Error("Choose a recipe among the results first; that recipe id is not in this collection.")
        hits = recipe_neighbours(self.index, row, self.photo_to_recipe_field, k)
        title = without_site_markup(str(self.recipes.title.iat[row]))
        what = (f"recipe like \u201c{title}\u201d", f"recipes like \u201c{title}\u201d")
        return self._answer(hits, notes, what)

    @endpoint
    def show_result(self, results, position):
        """A result chosen in the gallery -> (photo, card) for that recipe."""
        chosen = self._checked_result(results, position)
        if chosen is None:
            return None, render.PLACEHOLDER_CARD
        row = chosen["row"]
        card = render.recipe_card(
            chosen["title"],
            chosen["ingredients"],
            chosen["instructions"],
            chosen["score"],
            chosen.get("why"),
            how_sure=render.how_sure(chosen, len(results)),
        )
        return self.thumbnails.path(row), card

    def _checked_result(self, results, position) -> dict | None:
        """The result at `position` as the index holds it, when the page's values have the
        shape the app sent (they come back from the browser, or from anyone calling the
        endpoint): its row's own text, its score, and its reasons if they are well formed."""
        if not isinstance(results, list) or isinstance(position, bool) or not isinstance(position, int):
            return None
        sent = results[position] if 0 <= position < len(results) else None
        row = sent.get("row") if isinstance(sent, dict) else None
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < self.index.count:
            return None
        score, rank = sent.get("score"), sent.get("rank")
        score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else 0.0
        rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else position + 1
        result = self._result(rank, Hit(row, str(self.recipes.id.iat[row]), score))
        for key, value in (
            ("why", inputs.well_formed(sent.get("why"))),
            ("answer", inputs.well_formed(sent.get("answer"))),
        ):
            if value is not None:
                result[key] = value
        return result

    # --- shared steps ----------------------------------------------------------------------
    def _expand(self, direction: str, query: torch.Tensor) -> torch.Tensor:
        """The query expansion training chose on val for this direction (model/expansion.py);
        the query unchanged for models without it."""
        with torch.no_grad():
            return self.model.expand(direction, query.unsqueeze(0))[0]

    def _read_photo(self, photo):
        thumbnails = [self.thumbnails.folder, *self.photo_folders_extra]
        folders = self.photo_folders or [*inputs.gradio_folders(), *thumbnails]
        return inputs.read_photo(photo, folders, self.resize_to, accept=self._accepted_files(thumbnails))

    def _accepted_files(self, thumbnails: list[Path]):
        """For a search a visitor sent (Gradio's request is set): path -> whether it is one of
        our thumbnails (an example photo) or an upload this visitor made (ui/uploads.py).
        None when called directly (tests, example caching): the folders alone decide."""
        request = LocalContext.request.get(None)  # set by Gradio around every event's handler
        client = getattr(request, "client", None)
        if self.photo_folders is not None or client is None:
            return None
        visitor = uploads.visitor_of(client.host, request.headers.get("x-forwarded-for"))
        return lambda path: is_thumbnail(path, thumbnails) or uploads.UPLOADS.may_read(path, visitor)

    def _encode_photo(self, image, with_regions: bool = False):
        """The photo's PhotoParts (model/photo_parts.py) from one backbone pass; `with_regions`:
        with its regions, for the re-ranker."""
        try:
            return self.model.encode_photo_parts([image], with_regions=with_regions)
        except (OSError, ValueError) as error:
            # A frame that decodes lazily (some GIF/TIFF variants) can still fail here.
            raise gr.Error(unreadable_message(error, getattr(image, "mode", None))) from None

    def _filters(self, without, must_have, diets, notes: list[str]) -> filters.Filters:
        """The tab's ingredient filters; what was cut or unreadable in them goes to notes."""
        chosen = filters.read_filters(without, must_have, diets)
        notes.extend(chosen.notes)
        return chosen

    def _vector(self, query: torch.Tensor) -> np.ndarray:
        vector = query.detach().cpu().float().numpy().astype(np.float32)
        if not np.isfinite(vector).all() or not vector.any():
            # The index refuses such a vector; say so in the visitor's terms.
            raise gr.Error("This input could not be turned into a search; please try another photo or text.")
        return vector

    def _search(self, query: torch.Tensor, field: str, k: int, rows: np.ndarray | None = None) -> list:
        """Top-k rows; `rows`: a mask of the rows that may appear (filters), applied before ranking."""
        return self.index.search(self._vector(query), field, k, rows=rows)

    def _confidence(self, direction: str, hits: list, k: int, looks: dict | None = None) -> dict:
        """The answer's "how sure" (and, for a photo, "looks like"): figures and sentences."""
        estimate = self.confidence.estimate(direction, [hit.score for hit in hits], min(k, len(hits)))
        lines = [status_sentence(direction, estimate)]
        if looks is not None:
            lines.append(looks_like_sentence(looks))
        return {"direction": direction, "confidence": estimate, "looks_like": looks, "sentences": lines}

    def _answer(self, hits: list, notes: list[str], what: tuple[str, str], why=None, k=None, chosen=None, answer=None):
        """`what`: the status line's words after the count, for one result and for more.
        `answer`: _confidence's dict, given to every result (the card of any one shows it)."""
        results = []
        for rank, hit in enumerate(hits, start=1):
            result = self._result(rank, hit)
            if why is not None:
                result["why"] = why(result["title"], result["ingredients"])
            if answer is not None:
                result["answer"] = answer
            results.append(result)
        if results:
            summary = f"{len(results)} {what[0] if len(results) == 1 else what[1]}"
            summary += "" if summary.endswith(".") else "."
            if chosen is not None and chosen.active:
                summary += f" Filtered: {chosen.describe()}."
                if k is not None and len(results) < k:
                    summary += f" Only {len(results)} of the collection's recipes pass these filters."
        elif chosen is not None and chosen.active:
            summary = f"No recipe in the collection passes your filters ({chosen.describe()}); loosen them."
        else:
            summary = "Nothing in the collection matches; try other words or another photo."
        if results and answer is not None:
            summary += " " + " ".join(line for line in answer["sentences"] if line)
        return self._reply(results, notes, summary)

    def _reply(self, results: list[dict], notes: list[str], summary: str):
        for note in notes:
            gr.Warning(note)
        gallery = [(self.thumbnails.path(r["row"]), render.caption(r["title"])) for r in results]
        photo, card = self.show_result(results, 0)
        return gallery, results, photo, card, render.status_line(summary, notes)

    def _result(self, rank: int, hit, why: dict | None = None) -> dict:
        title, ingredients, instructions = (self.card_columns[c][hit.row] for c in CARD_COLUMNS)
        # The site's link markup shown as its words, and a step's own number dropped (ui/clean.py).
        title, ingredients, instructions = recipe_text(
            str(title), [str(item) for item in ingredients], [str(item) for item in instructions]
        )
        result = {
            "rank": rank,
            "row": int(hit.row),
            "id": str(hit.id),
            "title": title,
            "score": round(float(hit.score), 4),
            "ingredients": ingredients,
            "instructions": instructions,
        }
        if why is not None:
            result["why"] = why
        return result


# The methods marked @endpoint, in the order they are defined: what a page or a client may call.
ENDPOINTS = tuple(name for name, value in vars(RecipeSearch).items() if getattr(value, "is_endpoint", False))
