"""The Blocks layout: five tabs over one RecipeSearch, each with the same result panel."""

from __future__ import annotations

import os
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np

from . import fields, inputs, render
from .guard import GuardedBlocks, guarded
from .search import RecipeSearch
from .upgrade import POLL_S

# The model is CPU-bound and torch already spreads one query over every core, so running
# many at once only makes each slower. Two at a time lets one request decode its upload or
# write thumbnails while the other computes. Every search shares this limit.
MODEL_CONCURRENCY = 2
# About 0.1 s per search: 64 waiting requests is a few seconds' wait at worst. Beyond that
# a visitor is told at once that the app is busy rather than left waiting for a timeout.
QUEUE_MAX_SIZE = 64
EXAMPLES_PER_TAB = 6
# Fridge lists for the "Cook from what I have" examples: common enough that any recipe
# collection holds dishes using them.
PANTRY_EXAMPLES = [
    "eggs, spinach, feta",
    "chicken, lemon, garlic",
    "chocolate, butter, eggs, sugar",
    "tomatoes, basil, mozzarella",
    "rice, black beans, onion",
    "salmon, dill, potatoes",
]
# Uploads (and Gradio's copies of the files it served) are deleted once this old, checked
# this often: long enough to search the same photo again in another tab, short enough that
# a busy day's uploads never fill the disk (25 MB at most each). Gradio also deletes them
# all when the server stops.
UPLOAD_MAX_AGE_S = 3600
UPLOAD_SWEEP_S = 600

THEME = gr.themes.Soft(primary_hue="orange", secondary_hue="amber", neutral_hue="stone")


def launch_style() -> dict:
    """Gradio 6 takes theme and CSS at launch(); app.py and the tests both use this."""
    return {"theme": THEME, "css": render.CSS}


def build_layout(
    search: RecipeSearch,
    model_name: str,
    examples_cache: str | Path,
    upload_sweep_s: int = UPLOAD_SWEEP_S,
    upgrade=None,
) -> gr.Blocks:
    """`examples_cache`: a folder for this index's (and this code's) example answers; Gradio
    reuses what it finds there, so a restart with the same index skips re-running them
    (ui/storage.py keys the folder). `upgrade` (ui/upgrade.Upgrade): a better model is on
    its way; the page says which model serves and how far the other is, and examples run
    when clicked instead of showing answers cached from the model about to be replaced."""
    cached = upgrade is None
    _gradio_settings(search, examples_cache)
    picks = ExamplePicker(search)
    with GuardedBlocks(
        title="Recipe Finder \u2014 photo, title and recipe search",
        delete_cache=(upload_sweep_s, UPLOAD_MAX_AGE_S),
    ) as demo:
        if upgrade is not None:
            banner = gr.HTML(upgrade.banner(), elem_id="serving")
            timer = gr.Timer(POLL_S)
            timer.tick(upgrade.tick, outputs=[banner, timer], queue=False, show_progress="hidden")
        with gr.Row(equal_height=True, elem_id="header-row"):
            gr.HTML(render.header(search.index.count, model_name), scale=4)
            top_k = gr.Slider(
                inputs.TOP_K_MIN,
                inputs.TOP_K_MAX,
                value=inputs.TOP_K_DEFAULT,
                step=1,
                label="Results to show",
                scale=1,
                min_width=200,
                elem_id="top_k",
            )
        with gr.Tabs():
            for tab in _tabs(search, picks):
                with gr.Tab(tab.label, id=tab.id):
                    _hint(tab.hint)
                    _search_tab(
                        getattr(search, tab.endpoint),
                        tab.endpoint,
                        tab.button,
                        top_k,
                        tab.inputs,
                        search,
                        tab.examples,
                        tab.example_labels,
                        extras=tab.extras,
                        cached=cached,
                    )
        gr.HTML(render.CREDITS)
    # api_open=False: /gradio_api/run/<name> answers 404 for every queued event, so no search
    # can skip the queue and its concurrency limit (the page and gradio_client join the queue).
    demo.queue(max_size=QUEUE_MAX_SIZE, api_open=False)
    return demo


def _gradio_settings(search: RecipeSearch, examples_cache: str | Path) -> None:
    """Gradio's process-wide settings the page needs, set before it is built."""
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(examples_cache)
    # Gradio recomputes a pandas summary of up to 10,000 past events after every event, for
    # its /monitoring page, which launch() turns off: CPU per query for nothing, and more of
    # it the more queries came before.
    os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] = str(10**9)
    os.environ["GRADIO_ANALYTICS_MAX_EVENTS"] = "1"
    # Thumbnails are served from their folder as they are: without this, every answer's
    # files are hashed and copied into Gradio's cache, on the server's one event loop.
    gr.set_static_paths([search.thumbnails.folder])


@dataclass(frozen=True)
class TabSpec:
    """One search tab: which endpoint it calls (RecipeSearch's @endpoint), what it says,
    its inputs and its examples."""

    id: str
    label: str
    hint: str
    endpoint: str
    button: str
    inputs: Callable  # () -> the tab's input components
    examples: list
    example_labels: list | None = None
    extras: Callable | None = None  # () -> more inputs: "but" words, filters


def _tabs(search: RecipeSearch, picks: ExamplePicker) -> list[TabSpec]:
    """The page's tabs, in the order they show."""
    return [
        TabSpec(
            "photo",
            "Photo \u2192 Recipe",
            "Upload, paste or take a photo of a dish to find the recipes that match it. Add a few words "
            "(\u201cwith chicken\u201d, \u201cas a soup\u201d) to find dishes like it, but different.",
            "photo_to_recipe",
            "Find recipes",
            lambda: fields.photo_input("photo_to_recipe_input"),
            picks.photos(0),
            extras=lambda: fields.but_inputs("photo_to_recipe") + fields.filter_inputs("photo_to_recipe"),
        ),
        TabSpec(
            "title",
            "Title \u2192 Recipe",
            "Type the name of a dish; press Enter or the button to see matching recipes.",
            "title_to_recipe",
            "Find recipes",
            fields.title_input,
            picks.titles(),
            extras=lambda: fields.filter_inputs("title_to_recipe"),
        ),
        TabSpec(
            "pantry",
            "Cook from what I have",
            "List what is in your fridge: the recipes that use the most of it and need the fewest other "
            "things come first (salt, pepper, water and oil count as staples you have).",
            "cook_from_what_i_have",
            "Find recipes",
            fields.pantry_input,
            [[example] for example in PANTRY_EXAMPLES],
            extras=lambda: fields.filter_inputs("cook_from_what_i_have", must_have=False, open=True),
        ),
        TabSpec(
            "recipe",
            "Recipe \u2192 Photo",
            "Paste the ingredients, the instructions or both, to see what such a dish looks like.",
            "recipe_to_photo",
            "Find photos",
            fields.recipe_inputs,
            picks.recipes(),
            picks.recipe_labels(),
        ),
        TabSpec(
            "similar",
            "Similar dishes",
            "Show a photo of a dish to find the dishes that look most like it.",
            "similar_photos",
            "Find similar dishes",
            lambda: fields.photo_input("similar_photos_input"),
            picks.photos(EXAMPLES_PER_TAB),
        ),
    ]


def _hint(text: str) -> None:
    gr.HTML(f'<p class="tab-hint">{escape(text)}</p>')


class ResultPanel:
    """Status line, gallery and recipe card. Built unrendered so the tab's examples (which
    must name these outputs) can sit above them in the page."""

    def __init__(self, api_name: str):
        # elem_ids name each part after its endpoint, for the browser test and custom CSS.
        self.status = gr.HTML(render.status_line("", []), elem_id=f"{api_name}_status", render=False)
        self.gallery = gr.Gallery(
            label="Best matches",
            columns=4,
            height="auto",
            allow_preview=False,
            object_fit="cover",
            interactive=False,
            elem_id=f"{api_name}_gallery",
            elem_classes=["result-gallery"],
            render=False,
        )
        self.photo = gr.Image(label="Chosen dish", interactive=False, height=220, show_label=False, render=False)
        self.card = gr.HTML(render.PLACEHOLDER_CARD, elem_id=f"{api_name}_card", render=False)
        # "More like this one": the recipe shown in the card (its "id"), and the button that
        # searches near it (RecipeSearch.more_like_this). Kept in step with the card below.
        self.recipe_id = gr.Textbox(value="", visible=False, render=False, elem_id=f"{api_name}_recipe_id")
        self.more = gr.Button(
            "More like this one", size="sm", variant="secondary", elem_id=f"{api_name}_more", render=False
        )
        # Hidden in the page, but the API's most useful output: the ranked recipes as data.
        # It also holds the results for the gallery's select handler.
        self.results = gr.JSON(visible=False, render=False)
        self.outputs = [self.gallery, self.results, self.photo, self.card, self.status]

    def render(self) -> None:
        self.status.render()
        with gr.Row():
            with gr.Column(scale=3):
                self.gallery.render()
            with gr.Column(scale=2):
                self.photo.render()
                self.more.render()
                self.card.render()
        self.results.render()
        self.recipe_id.render()


def _search_tab(
    handler, api_name, button_text, top_k, make_inputs, search, examples, labels=None, extras=None, cached=True
):
    """Query inputs + button beside the examples, the result panel below, all wired.
    `extras`: builds the inputs the handler takes after top_k (refinement, filters), in
    its parameter order; examples leave them at their defaults."""
    handler = guarded(handler, api_name)
    panel = ResultPanel(api_name)
    with gr.Row():
        with gr.Column(scale=3):
            query_inputs, triggers = make_inputs()
            extra_inputs = extras() if extras else []
            # Enter in a one-line extra field ("but", "without", "with") searches, as in the title.
            triggers += [
                field.submit for field in extra_inputs if isinstance(field, gr.Textbox) and field.max_lines == 1
            ]
            button = gr.Button(button_text, variant="primary", elem_id=f"{api_name}_button")
        with gr.Column(scale=2):
            shown = None
            if examples:
                shown = gr.Examples(
                    examples,
                    inputs=query_inputs,
                    outputs=panel.outputs if cached else None,
                    fn=handler if cached else None,
                    cache_examples=cached,
                    cache_mode="eager" if cached else None,
                    preprocess=False,
                    example_labels=labels,
                    examples_per_page=EXAMPLES_PER_TAB,
                    label="Try one from the collection",
                )
    panel.render()
    # Progress (and, on a refused input, the error badge) shows on the status line only:
    # the previous results stay readable beside the error message. trigger_mode="once":
    # a click while the upload's own search runs is not queued a second time.
    search_event = {
        "inputs": [*query_inputs, top_k, *extra_inputs],
        "outputs": panel.outputs,
        "preprocess": False,
        "concurrency_id": "model",
        "concurrency_limit": MODEL_CONCURRENCY,
        "show_progress_on": [panel.status],
    }
    gr.on([button.click, *triggers], handler, api_name=api_name, trigger_mode="once", **search_event)
    if shown is not None and not cached:
        # Examples not cached: a click fills the inputs, then searches with the model serving now.
        shown.load_input_event.then(handler, api_visibility="private", **search_event)

    _wire_result_panel(panel, search, api_name, top_k)


def _wire_result_panel(panel, search: RecipeSearch, api_name: str, top_k) -> None:
    """The result panel's own events: a result chosen in the gallery, a new answer's first
    recipe, and "More like this one"."""

    def choose(results, evt: gr.SelectData):
        return *search.show_result(results, evt.index), chosen_id(results, evt.index)

    # No model involved, so no place in the model's queue is needed.
    panel.gallery.select(
        guarded(choose, f"{api_name} (choose a result)"),
        inputs=[panel.results],
        outputs=[panel.photo, panel.card, panel.recipe_id],
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    # Every new answer (a search, a cached example, "more like this" itself) shows its first
    # recipe in the card: "More like this one" starts from it until another is chosen.
    panel.results.change(
        lambda results: chosen_id(results, 0),
        inputs=[panel.results],
        outputs=[panel.recipe_id],
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    # One public endpoint, /more_like_this (recipe id, top_k), whichever tab's button runs it.
    panel.more.click(
        guarded(search.more_like_this, "more_like_this"),
        inputs=[panel.recipe_id, top_k],
        outputs=panel.outputs,
        api_name="more_like_this" if api_name == "photo_to_recipe" else f"{api_name}_more_like_this",
        api_visibility="public" if api_name == "photo_to_recipe" else "private",
        concurrency_id="model",
        concurrency_limit=MODEL_CONCURRENCY,
        show_progress_on=[panel.status],
    )


def chosen_id(results, position) -> str:
    """The id of the result at `position`, or "" when the page holds no such result."""
    if isinstance(results, list) and 0 <= position < len(results) and isinstance(results[position], dict):
        return str(results[position].get("id", ""))[:500]
    return ""


class ExamplePicker:
    """Examples drawn from the loaded index, spread evenly over its rows with a recipe.
    Every example must answer (they are run at start-up to be cached), so text examples
    come only from rows whose text is there."""

    def __init__(self, search: RecipeSearch):
        self.search = search
        rows = np.flatnonzero(search.has_recipe)
        if len(rows) == 0:
            rows = np.arange(search.index.count)
        spread = np.linspace(0, len(rows) - 1, num=min(len(rows), 3 * EXAMPLES_PER_TAB)).astype(int)
        self.rows = [int(rows[i]) for i in dict.fromkeys(spread)]  # deduplicated, in order
        self.table = search.recipes

    def _slice(self, start: int, need_recipe: bool = False) -> list[int]:
        rows = self.rows[start : start + EXAMPLES_PER_TAB]
        if need_recipe:
            rows = [row for row in rows if self.search.has_recipe[row]]
        return rows

    def photos(self, start: int) -> list[list[str]]:
        return [[self.search.thumbnails.path(row)] for row in self._slice(start)]

    def titles(self) -> list[list[str]]:
        titles = (str(self.table.title.iat[row]).strip() for row in self._slice(2 * EXAMPLES_PER_TAB))
        return [[title] for title in titles if title]

    def recipes(self) -> list[list[str]]:
        return [
            ["\n".join(self.table.ingredients.iat[row]), "\n".join(self.table.instructions.iat[row])]
            for row in self._slice(0, need_recipe=True)
        ]

    def recipe_labels(self) -> list[str]:
        return [str(self.table.title.iat[row]) for row in self._slice(0, need_recipe=True)]
