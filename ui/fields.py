"""The search tabs' query inputs, as Gradio components (ui/layout.py places them). Each
builder returns (the handler's query inputs, extra events that run the search); the
optional ones ("but" words, ingredient filters) return their components in the order the
handler takes them."""

from __future__ import annotations

from html import escape

import gradio as gr

from embeddings.serving.refine import BUT_WEIGHT, BUT_WEIGHT_MAX, BUT_WEIGHT_MIN

from .filters import DIET_CHOICES, DISCLAIMER


def photo_input(elem_id: str):
    # type="filepath" and preprocess=False on the listeners: Gradio hands over the uploaded
    # file untouched, so ui.inputs can check its size from the header before decoding it.
    photo = gr.Image(
        label="Photo of a dish", type="filepath", sources=["upload", "webcam", "clipboard"], height=280, elem_id=elem_id
    )
    return [photo], [photo.upload]


def title_input():
    title = gr.Textbox(
        label="Dish name", placeholder="e.g. lemon chicken with olives", max_lines=1, elem_id="title_to_recipe_input"
    )
    return [title], [title.submit]


def pantry_input():
    have = gr.Textbox(
        label="Ingredients you have, one per line or separated by commas",
        lines=4,
        placeholder="eggs\nspinach\nfeta",
        elem_id="cook_from_what_i_have_input",
    )
    return [have], []


def optional_line(label: str, placeholder: str, elem_id: str, scale: int | None = None) -> gr.Textbox:
    # value="" (and [] for the diet chips): API clients may leave these inputs out.
    return gr.Textbox(value="", label=label, placeholder=placeholder, max_lines=1, scale=scale, elem_id=elem_id)


def but_inputs(api_name: str) -> list:
    """ "Like this, but …": words that move a photo search, and how far."""
    with gr.Row():
        but = optional_line("\u2026 but (optional)", "e.g. with chicken, vegetarian, as a soup", f"{api_name}_but", 3)
        weight = gr.Slider(
            BUT_WEIGHT_MIN,
            BUT_WEIGHT_MAX,
            value=BUT_WEIGHT,
            step=0.05,
            label="How far the words move it",
            info="0: the photo alone; 1: the words alone",
            scale=2,
            elem_id=f"{api_name}_but_weight",
        )
    return [but, weight]


def filter_inputs(api_name: str, must_have: bool = True, open: bool = False) -> list:
    """ "Without", "with" and diet chips: ingredient filters applied inside the search."""
    with gr.Accordion("Ingredient filters", open=open, elem_id=f"{api_name}_filters"):
        with gr.Row():
            fields = [optional_line("Without", "e.g. nuts, pork, shellfish", f"{api_name}_without")]
            if must_have:
                fields.append(optional_line("With (must contain)", "e.g. lemon, garlic", f"{api_name}_with"))
        diets = gr.CheckboxGroup(DIET_CHOICES, value=[], label="Diet", elem_id=f"{api_name}_diets")
        gr.HTML(f'<p class="filter-note">{escape(DISCLAIMER)}</p>')
    return [*fields, diets]


def recipe_inputs():
    with gr.Row():
        ingredients = gr.Textbox(
            label="Ingredients, one per line", lines=7, placeholder="2 cups flour\n1 cup sugar\n3 eggs"
        )
        instructions = gr.Textbox(
            label="Instructions, one step per line",
            lines=7,
            placeholder="Whisk the eggs and sugar.\nFold in the flour.\nBake 30 minutes.",
        )
    return [ingredients, instructions], []
