"""Recipe text as a person should read it on a card: the source site's own markup shown as
the words it wraps, and steps numbered once (the card's list numbers them).

Measured on the Epicurious sample (10,692 rows): 178 recipes number their own steps
("1. Heat the oil", "Step 2: ..."), which an ordered list then numbered again ("1. 1.
Heat"); 8 carry the site's cross-recipe links (`<epi recipelink="" id="243607">vadouvan</epi>`,
`<epi:recipelink id="105591">salted water</epi:recipelink>`, or the tag name left bare:
"syrupepi:recipelink") and a few empty anchors (`<a></a>`, `<\\a>`, `<"">`, `< >`).
Only these are removed: any other angle-bracket text is the recipe's own and is shown,
escaped, as written.
"""

from __future__ import annotations

import re

_SITE_TAGS = re.compile(
    r"</?\s*(?:epi(?::recipelink)?|a)(?:\s[^<>]*)?>"  # <epi ...>, </epi:recipelink>, <a>, </a>
    r"|<\\a>"  # a mistyped closing anchor
    r'|<\s*(?:"")?\s*>'  # <"">, < >: an anchor whose attributes were stripped upstream
    r"|epi:recipelink",  # the tag's name left in the text when its brackets were lost
    re.IGNORECASE,
)
# A step's own number: "1.", "2)", "Step 3", "Step 4:", "STEP 5 -". Not "1 cup" nor "1.5 kg".
_STEP_NUMBER = re.compile(r"^\s*(?:step\s*\d{1,3}\s*[:.)\-\u2013]?|\d{1,3}\s*[.)](?!\d))\s*", re.IGNORECASE)


def without_site_markup(text: str) -> str:
    """The site's link markup replaced by the words it wraps; runs of spaces left by it joined."""
    if "<" not in text and "epi:" not in text.lower():
        return text
    return re.sub(r"  +", " ", _SITE_TAGS.sub("", text)).strip()


def step_text(step: str) -> str:
    """One instruction as the card's numbered list shows it: its own leading number dropped."""
    return _STEP_NUMBER.sub("", without_site_markup(step), count=1)


def recipe_text(title: str, ingredients: list[str], instructions: list[str]) -> tuple[str, list[str], list[str]]:
    """A row's title, ingredient lines and steps as the app shows them (cards and the API alike)."""
    return (
        without_site_markup(title),
        [without_site_markup(line) for line in ingredients],
        [step_text(step) for step in instructions],
    )
