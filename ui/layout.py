"""The Blocks layout: four tabs over one RecipeSearch, each with the same result panel."""
from __future__ import annotations

import os
import tempfile

import gradio as gr
import numpy as np

from . import inputs, render
from .search import RecipeSearch

# The model is CPU-bound and torch already spreads one query over every core, so running
# many at once only makes each slower. Two at a time lets one request decode its upload or
# write thumbnails while the other computes. Every search shares this limit.
MODEL_CONCURRENCY = 2
# About 0.1 s per search: 64 waiting requests is a few seconds' wait at worst. Beyond that
# a visitor is told at once that the app is busy rather than left waiting for a timeout.
QUEUE_MAX_SIZE = 64
EXAMPLES_PER_TAB = 6

THEME = gr.themes.Soft(primary_hue="orange", secondary_hue="amber", neutral_hue="stone")


def launch_style() -> dict:
    """Gradio 6 takes theme and CSS at launch(); app.py and the tests both use this."""
    return {"theme": THEME, "css": render.CSS}


def build_layout(search: RecipeSearch, model_name: str) -> gr.Blocks:
    # Examples are cached at start-up from *this* index. Gradio reuses a cache folder that
    # already exists, which would show answers from an older index, so each start gets a
    # fresh one.
    os.environ["GRADIO_EXAMPLES_CACHE"] = tempfile.mkdtemp(prefix="recipe-examples-cache-")
    picks = ExamplePicker(search)
    with gr.Blocks(title="Recipe Finder \u2014 photo, title and recipe search") as demo:
        with gr.Row(equal_height=True):
            gr.HTML(render.header(search.index.count, model_name), scale=4)
            top_k = gr.Slider(inputs.TOP_K_MIN, inputs.TOP_K_MAX, value=inputs.TOP_K_DEFAULT, step=1,
                              label="Results to show", scale=1, min_width=200)
        with gr.Tabs():
            with gr.Tab("Photo \u2192 Recipe", id="photo"):
                photo = _photo_input("Photo of a dish")
                _wire(search, search.photo_to_recipe, [photo], top_k, "Find recipes", "photo_to_recipe",
                      picks.photos(0), upload=photo)
            with gr.Tab("Title \u2192 Recipe", id="title"):
                title = gr.Textbox(label="Dish name", placeholder="e.g. lemon chicken with olives", max_lines=1)
                _wire(search, search.title_to_recipe, [title], top_k, "Find recipes", "title_to_recipe",
                      picks.titles(), submit=title)
            with gr.Tab("Recipe \u2192 Photo", id="recipe"):
                with gr.Row():
                    ingredients = gr.Textbox(label="Ingredients, one per line", lines=6,
                                             placeholder="2 cups flour\n1 cup sugar\n3 eggs")
                    instructions = gr.Textbox(label="Instructions, one step per line", lines=6,
                                              placeholder="Whisk the eggs and sugar.\nFold in the flour.\nBake 30 minutes.")
                _wire(search, search.recipe_to_photo, [ingredients, instructions], top_k, "Find photos",
                      "recipe_to_photo", picks.recipes(), labels=picks.recipe_labels())
            with gr.Tab("Similar dishes", id="similar"):
                similar = _photo_input("Photo of a dish")
                _wire(search, search.similar_photos, [similar], top_k, "Find similar dishes", "similar_photos",
                      picks.photos(EXAMPLES_PER_TAB), upload=similar)
        gr.HTML(render.CREDITS)
    demo.queue(max_size=QUEUE_MAX_SIZE)
    return demo


def _photo_input(label: str) -> gr.Image:
    # type="filepath" and preprocess=False on the listeners: Gradio hands over the uploaded
    # file untouched, so ui.inputs can check its size from the header before decoding it.
    return gr.Image(label=label, type="filepath", sources=["upload", "webcam", "clipboard"], height=300)


def _wire(search, handler, query_inputs, top_k, button_text, api_name, examples, labels=None, upload=None, submit=None):
    """Button + result panel + examples for one tab, all wired to `handler`."""
    button = gr.Button(button_text, variant="primary")
    status = gr.HTML(render.status_line("", []))
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Best matches", columns=4, height="auto", allow_preview=False,
                                 object_fit="cover", interactive=False)
        with gr.Column(scale=2):
            card_photo = gr.Image(label="Chosen dish", interactive=False, height=220, show_label=False)
            card = gr.HTML(render.PLACEHOLDER_CARD)
    # Hidden in the page, but the API's most useful output: the ranked recipes as data. It
    # also holds the results for the gallery's select handler.
    results = gr.JSON(visible=False)
    outputs = [gallery, results, card_photo, card, status]
    triggers = [button.click] + ([upload.upload] if upload else []) + ([submit.submit] if submit else [])
    gr.on(triggers, handler, inputs=[*query_inputs, top_k], outputs=outputs, api_name=api_name,
          preprocess=False, concurrency_id="model", concurrency_limit=MODEL_CONCURRENCY)

    def choose(results, evt: gr.SelectData):
        return search.show_result(results, evt.index)

    # No model involved: this needs no place in the model's queue.
    gallery.select(choose, inputs=[results], outputs=[card_photo, card], api_visibility="private",
                   queue=False, show_progress="hidden")
    if examples:
        gr.Examples(examples, inputs=query_inputs, outputs=outputs, fn=handler, cache_examples=True,
                    cache_mode="eager", preprocess=False, example_labels=labels,
                    examples_per_page=EXAMPLES_PER_TAB, label="Try one from the collection")


class ExamplePicker:
    """Examples drawn from the loaded index, spread evenly over its rows with a recipe."""

    def __init__(self, search: RecipeSearch):
        self.search = search
        rows = np.flatnonzero(search.has_recipe)
        if len(rows) == 0:
            rows = np.arange(search.index.count)
        spread = np.linspace(0, len(rows) - 1, num=min(len(rows), 3 * EXAMPLES_PER_TAB)).astype(int)
        self.rows = [int(rows[i]) for i in dict.fromkeys(spread)]  # deduplicated, in order

    def _slice(self, start: int) -> list[int]:
        return self.rows[start:start + EXAMPLES_PER_TAB]

    def photos(self, start: int) -> list[list[str]]:
        return [[self.search.thumbnails.path(row)] for row in self._slice(start)]

    def titles(self) -> list[list[str]]:
        return [[self.search.recipes.iloc[row]["title"]] for row in self._slice(2 * EXAMPLES_PER_TAB)]

    def recipes(self) -> list[list[str]]:
        table = self.search.recipes
        return [["\n".join(table.iloc[row]["ingredients"]), "\n".join(table.iloc[row]["instructions"])]
                for row in self._slice(0)]

    def recipe_labels(self) -> list[str]:
        return [str(self.search.recipes.iloc[row]["title"]) for row in self._slice(0)]
