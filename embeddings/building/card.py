"""The model card (README.md) a published repo carries: YAML metadata, the evaluation
table read from the model dir, the protocol and data behind it, and how to use it."""

from __future__ import annotations

import json
from pathlib import Path

from model.config import RetrieverConfig
from model.fitted import FittedState
from model.protocol import DIRECTIONS
from model.saving import CONFIG_NAME, read_model_json

EVAL_FILES = ("eval_test.json", "eval.json", "metrics.json")  # first one found is used
DEFAULT_LICENSE = "cc-by-sa-3.0"  # the Epicurious data's licence (ShareAlike) carries over
TAGS = ("image-retrieval", "text-to-image-retrieval", "cross-modal-retrieval", "recipes", "food", "safetensors")


def read_evaluation(model_dir: Path) -> tuple[str, dict] | None:
    """(file name, {direction: {medr, r1, r5, r10, pool, bags}}) or None."""
    for name in EVAL_FILES:
        path = Path(model_dir) / name
        if path.is_file():
            data = json.loads(path.read_text())
            rows = {d: data[d] for d in DIRECTIONS if isinstance(data.get(d), dict)}
            if rows:
                return name, rows
    return None


def _cell(metrics: dict, key: str) -> str:
    """ "12.0", or "21.3 ± 1.1" where a `<key>_std` spread is recorded. Recalls stored as
    fractions (train/metrics.py) are shown as percentages."""
    value = metrics.get(key)
    if value is None:
        return "–"
    if key in ("pool", "bags"):
        return str(int(value))
    scale = 100 if key.startswith("r") and value <= 1 else 1
    std = metrics.get(f"{key}_std")
    return f"{value * scale:.1f}" + (f" ± {std * scale:.1f}" if std else "")


def evaluation_table(rows: dict) -> str:
    lines = ["| direction | pool N | bags | MedR ↓ | R@1 % ↑ | R@5 % ↑ | R@10 % ↑ |", "|---|---|---|---|---|---|---|"]
    for direction, metrics in rows.items():
        cells = [direction.replace("_to_", " → ")] + [
            _cell(metrics, key) for key in ("pool", "bags", "medr", "r1", "r5", "r10")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _yaml_list(name: str, items) -> str:
    return f"{name}:\n" + "".join(f"- {item}\n" for item in items)


def _lexical_note(config: RetrieverConfig, fitted: FittedState) -> str:
    sizes = fitted.lexical_vocabulary
    if not config.lexical_dims or not any(sizes.values()):
        return ""
    return (
        f" Titles and recipe texts also carry {config.lexical_dims}-d lexical features (TF-IDF over words "
        f"and word pairs reduced by an SVD, fitted on the training rows: {sizes.get('title', 0)} title terms, "
        f"{sizes.get('recipe', 0)} recipe terms, stored as hashes in `model.safetensors`)."
    )


def model_card(
    model_dir: Path,
    repo: str,
    index_manifest: dict | None,
    license: str | None = None,
    datasets: list[str] | None = None,
) -> str:
    config, fitted = read_model_json((Path(model_dir) / CONFIG_NAME).read_text())
    data_source = ((index_manifest or {}).get("data") or {}).get("source", "")
    datasets = datasets or ([Path(data_source).name] if data_source else ["epicurious"])
    header = (
        "---\n"
        + f"library_name: pytorch\nlicense: {license or DEFAULT_LICENSE}\npipeline_tag: image-feature-extraction\n"
        + _yaml_list("tags", TAGS)
        + _yaml_list("datasets", datasets)
        + "---\n"
    )
    results = _evaluation_part(Path(model_dir), fitted)
    index_part = _index_part(index_manifest, data_source)
    return f"""{header}
# Recipe retriever: photos, titles and recipes in one space

Encodes food photos ({config.image_backbone}), recipe titles ({config.title_backbone}) and full
recipes (ingredients + instructions, {config.recipe_backbone}) into one L2-normalised
{config.embed_dim}-d space, so a photo finds its recipe and a recipe its photo by cosine similarity.
Trained contrastively on {", ".join(datasets)} (preset `{config.preset}`).{_lexical_note(config, fitted)}

## Evaluation

{results}
{index_part}
## Use

```python
from embeddings import load_index
from embeddings.serving.hub import load_model
from PIL import Image

model = load_model("{repo}", revision="<tag or commit>")
index = load_index("{repo}", revision="<tag or commit>")
query = model.expand("image_to_recipe", model.encode_photos([Image.open("dish.jpg")]))[0].numpy()
for hit in index.search(query, "{fitted.recipe_vector}", k=5, rows=index.has_recipe):
    print(index.recipes.title[hit.row], round(hit.score, 3))
```

or `python -m embeddings search --index {repo} --image dish.jpg`.
In a Space, list the repo under `preload_from_hub` in the README so it is fetched at build time.

Data credit: recipes and photos from epicurious.com via the Kaggle data set
"Food Ingredients and Recipe Dataset with Images" (CC BY-SA 3.0).
"""


def _evaluation_part(model_dir: Path, fitted) -> str:
    """The card's evaluation: the model folder's test table, its protocol, and the directions
    whose queries are expanded."""
    evaluation = read_evaluation(model_dir)
    if not evaluation:
        return "No evaluation file (eval_test.json / eval.json / metrics.json) was found in the model folder."
    source, rows = evaluation
    results = (
        f"{evaluation_table(rows)}\n\nFrom `{source}`. Protocol (im2recipe / H-T): held-out test pairs only; "
        "B bags of N pairs drawn with a fixed seed; inside a bag every candidate is ranked by cosine "
        "similarity against each query; MedR is the median 1-based rank of the true match, R@K the "
        "percentage found in the top K, averaged over bags. Figures on other data or other pool sizes "
        "are not comparable with published Recipe1M numbers."
    )
    expanded = [d.replace("_to_", " → ") for d in fitted.query_expansion.expanded_directions()]
    if expanded:
        results += (
            f"\n\nQueries of {', '.join(expanded)} are expanded through the training pairs (the nearest "
            "training rows lend their partner vectors; settings chosen on val; `model.expand(direction, "
            "query)`); `eval_test_plain.json` holds the plain figures."
        )
    return results


def _index_part(index_manifest: dict | None, data_source: str) -> str:
    """The card's section on the index published beside the model ("" without one)."""
    if not index_manifest:
        return ""
    lines = (
        "the re-ranker's ingredient-line vectors (float16, ragged) in `index/ingredient_lines.safetensors`, "
        if index_manifest.get("ingredient_lines")
        else ""
    )
    return (
        f"\n## The recipe index (`index/`)\n\n{index_manifest['count']} recipes from `{data_source or 'unknown'}`, "
        f"{index_manifest['dim']}-d {index_manifest['dtype']} unit vectors (image, title, recipe) in "
        "`index/embeddings.safetensors`, recipe text and JPEG thumbnails in `index/recipes.parquet`, "
        f"{lines}sha256 of each in `index/manifest.json`. No pickle: nothing here runs code when loaded.\n"
    )
