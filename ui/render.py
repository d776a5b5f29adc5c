"""HTML the app shows. Every string that came from the data or from a visitor goes
through html.escape: a recipe containing <script> or Markdown shows as plain text.
The card is gr.HTML (not Markdown) so `**`, `#` or `[x](javascript:)` in a recipe are
never interpreted either."""

from __future__ import annotations

from html import escape

from .explain import mark

CSS = """
.recipe-card { padding: 0.25rem 0.5rem; line-height: 1.55; }
.recipe-card h2 { margin: 0 0 0.35rem 0; font-size: 1.45rem; }
.recipe-card .match { color: var(--body-text-color-subdued); font-size: 0.9rem; margin-bottom: 0.75rem; }
.recipe-card h3 { margin: 1rem 0 0.35rem 0; font-size: 1.05rem; text-transform: uppercase; letter-spacing: 0.04em; }
.recipe-card ul, .recipe-card ol { margin: 0; padding-left: 1.4rem; }
.recipe-card li { margin: 0.2rem 0; }
.recipe-card .missing { font-style: italic; color: var(--body-text-color-subdued); }
.placeholder { color: var(--body-text-color-subdued); padding: 2rem 0.5rem; text-align: center; }
.status-line { min-height: 1.5rem; font-size: 0.92rem; color: var(--body-text-color-subdued); }
.status-line .note { color: var(--color-accent); }
.app-header h1 { margin-bottom: 0.1rem; }
.app-header p { margin-top: 0; color: var(--body-text-color-subdued); }
.tab-hint { margin: 0.25rem 0 0.5rem 0; color: var(--body-text-color-subdued); }
/* Phones: two result columns instead of four, and the header above the slider. */
@media (max-width: 640px) {
  .result-gallery .grid-container { --grid-cols: 2 !important; }
  #header-row { flex-direction: column; }
}
.recipe-card mark { background: #ffe8a3; color: inherit; padding: 0 0.1em; border-radius: 0.2em; }
.recipe-card .why { margin: 0.2rem 0; font-size: 0.92rem; }
.filter-note { font-size: 0.85rem; color: var(--body-text-color-subdued); }
/* Gallery captions: the dish's whole title, on up to three lines, not cut after a dozen letters. */
.result-gallery .caption-label, .result-gallery figcaption {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  max-width: 100% !important; line-height: 1.25; }
#serving .serving { padding: 0.45rem 0.8rem; border-radius: 0.5rem; background: #fff4dc; font-size: 0.95rem; }
#serving .serving.done { background: #e6f6e6; }
#serving .serving.failed { background: #fde2e2; }
#serving .progress { font-family: monospace; font-size: 0.8rem; color: var(--body-text-color-subdued); }
.credits { text-align: center; font-size: 0.85rem; color: var(--body-text-color-subdued); margin-top: 1rem; }
"""

PLACEHOLDER_CARD = '<div class="placeholder">Search, then choose a result to see its full recipe.</div>'


def caption(title: str) -> str:
    # Gallery captions are plain text in the browser; no escaping needed, and escaping
    # would show "&amp;" to the visitor. No score: a cosine says nothing to a person (the
    # card says how sure the answer is).
    return title


def how_sure(result: dict, count: int) -> list[str]:
    """The card's lines on how sure the answer is: the first result's chance of being the
    right one in words, and where this result stands (ui/confidence.py makes the answer)."""
    answer = result.get("answer") or {}
    lines = [line for line in answer.get("sentences", ()) if line]
    lines.append(
        f"Result {result['rank']} of {count}; similarity {result['score']:.2f} "
        "(how close the model places it: higher is closer, not a probability)."
    )
    return lines


def recipe_card(
    title: str,
    ingredients: list[str],
    instructions: list[str],
    score: float | None = None,
    why: dict | None = None,
    how_sure: list[str] | None = None,
) -> str:
    """Title, ingredients as a list, numbered instructions; all escaped. `why` (ui/explain.py):
    {"reasons": [sentences], "marked": [normalised words]}: the reasons are shown above the
    ingredients and the marked words highlighted in the title and the ingredient lines.
    `how_sure`: how_sure()'s lines, shown in place of the bare score."""
    marked = set((why or {}).get("marked", ()))
    parts = ['<article class="recipe-card">', f"<h2>{mark(title or 'Untitled dish', marked)}</h2>"]
    if how_sure:
        parts.extend(f'<div class="match">{escape(line)}</div>' for line in how_sure)
    elif score is not None:
        parts.append(f'<div class="match">similarity {score:.2f} (higher is closer, not a probability)</div>')
    for reason in (why or {}).get("reasons", ()):
        parts.append(f'<p class="why">{escape(reason)}</p>')
    parts.append("<h3>Ingredients</h3>")
    parts.append(_list("ul", ingredients, "No ingredient list for this dish in the collection.", marked))
    parts.append("<h3>Instructions</h3>")
    parts.append(_list("ol", instructions, "No instructions for this dish in the collection."))
    parts.append("</article>")
    return "\n".join(parts)


def _list(tag: str, items: list[str], when_empty: str, marked: set[str] = frozenset()) -> str:
    items = [item for item in items if item and item.strip()]
    if not items:
        return f'<p class="missing">{escape(when_empty)}</p>'
    rows = "".join(f"<li>{mark(item, marked)}</li>" for item in items)
    return f"<{tag}>{rows}</{tag}>"


def status_line(summary: str, notes: list[str]) -> str:
    """One line under the results: what was found, then any fix applied to the input."""
    html = escape(summary)
    for note in notes:
        html += f' <span class="note">\u2014 {escape(note)}</span>'
    return f'<div class="status-line">{html}</div>'


def header(count: int, model_name: str) -> str:
    return (
        '<div class="app-header"><h1>Recipe Finder</h1>'
        f"<p>Find recipes from a photo, a dish name or a list of ingredients, across "
        f"{count:,} dishes. Model: {escape(model_name)}.</p></div>"
    )


CREDITS = (
    '<div class="credits">Recipes and photos: '
    '<a href="https://www.epicurious.com/" target="_blank" rel="noopener">Epicurious</a>, via the Kaggle data set '
    '<a href="https://www.kaggle.com/datasets/pes12017000148/food-ingredients-and-recipe-dataset-with-images" '
    'target="_blank" rel="noopener">Food Ingredients and Recipes Dataset with Images</a>, licensed '
    '<a href="https://creativecommons.org/licenses/by-sa/3.0/" target="_blank" rel="noopener">CC BY-SA 3.0</a>. '
    "Results are found by a learned similarity model and may be wrong; check a recipe before you cook it.</div>"
)
