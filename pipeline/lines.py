"""Per-line text features for the sequence recipe encoders (model/recipe_encoders.py):
one recipe-backbone vector per ingredient line and per method sentence of every row,
split and capped by model/recipe_lines.py exactly as Retriever.encode_recipe splits them.

The cache entry `lines-<key>.safetensors` (pipeline/features.py names and keys it) is
ragged, rows in the collection's id order, laid out one after the other:
  ingredient_lines   (total ingredient lines, H) float16
  ingredient_counts  (N,) int64   lines of each row (0 on title-only rows)
  step_lines         (total sentences, H) float16
  step_counts        (N,) int64
Row i's lines are ingredient_lines[o : o + ingredient_counts[i]], o the sum of the counts
before it. float16 halves a large collection's entry; the model rounds the lines it
computes at serving time the same way (Retriever.line_features).

Every line of the collection (ingredient lines, then sentences) is one item; items go to
the backbone longest first in batches of LINE_BATCH, so a batch pads to similar lengths.
Under torchrun each rank runs its batches of that one sequence (World.batch_rows), and
rank 0 puts the items back in place: the entry one process would have made.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from model import Retriever
from model.recipe_lines import RaggedLines

from .records import Recipe
from .world import World

LINE_BATCH = 256  # lines are short (a few to 64 tokens): large batches pad little once sorted
# What a lines entry depends on besides the rows (with the splitter's version).
LINE_SETTINGS = (
    "recipe_backbone",
    "title_backbone",
    "share_text_backbone",
    "recipe_line_max_tokens",
    "recipe_max_ingredients",
    "recipe_max_steps",
)


def collection_lines(model: Retriever, recipes: list[Recipe]) -> tuple[list[str], list[int], list[int]]:
    """(every item: all rows' ingredient lines, then all rows' sentences; ingredient
    counts per row; sentence counts per row)."""
    split = [model.split_lines(r.ingredients, r.instructions) for r in recipes]
    items = [line for ingredients, _ in split for line in ingredients]
    items += [sentence for _, sentences in split for sentence in sentences]
    return items, [len(i) for i, _ in split], [len(s) for _, s in split]


def line_order(items: list[str]) -> list[int]:
    """Longest first, so each batch pads to similar lengths (ties in item order)."""
    return sorted(range(len(items)), key=lambda i: -len(items[i]))


@torch.inference_mode()
def extract_line_features(
    model: Retriever, recipes: list[Recipe], progress: bool = True, part: World = World()
) -> dict[str, torch.Tensor]:
    """The lines entry of `recipes` (in their order). `part`: this rank's batches only,
    {"vectors": (n, H) float16, "rows": (n,) their item numbers}, for merge_line_shards."""
    model.eval()
    items, ingredient_counts, step_counts = collection_lines(model, recipes)
    mine = part.batch_rows(len(items), LINE_BATCH, line_order(items))
    vectors = torch.zeros(len(mine), model.recipe_encoder.feature_dim, dtype=torch.float16)
    for start in tqdm(range(0, len(mine), LINE_BATCH), desc="recipe line features", disable=not progress):
        batch = mine[start : start + LINE_BATCH]
        vectors[start : start + len(batch)] = model.line_features([items[i] for i in batch]).cpu().to(torch.float16)
    if part.size > 1:
        return {"vectors": vectors, "rows": torch.tensor(mine, dtype=torch.int64)}
    flat = torch.zeros(len(items), vectors.shape[1], dtype=torch.float16)
    flat[mine] = vectors
    return lines_entry(flat, ingredient_counts, step_counts)


def merge_line_shards(
    model: Retriever, recipes: list[Recipe], shards: list[dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """Rank 0: the ranks' shards of extract_line_features -> the whole entry."""
    _, ingredient_counts, step_counts = collection_lines(model, recipes)
    total = sum(ingredient_counts) + sum(step_counts)
    flat = torch.zeros(total, model.recipe_encoder.feature_dim, dtype=torch.float16)
    done = torch.zeros(total, dtype=torch.bool)
    for shard in shards:
        flat[shard["rows"]] = shard["vectors"]
        done[shard["rows"]] = True
    if not bool(done.all()):
        raise ValueError(f"the line feature shards cover {int(done.sum())} of {total} lines; run the command again")
    return lines_entry(flat, ingredient_counts, step_counts)


def lines_entry(flat: torch.Tensor, ingredient_counts: list[int], step_counts: list[int]) -> dict[str, torch.Tensor]:
    split = sum(ingredient_counts)
    return {
        "ingredient_lines": flat[:split].contiguous(),
        "ingredient_counts": torch.tensor(ingredient_counts, dtype=torch.int64),
        "step_lines": flat[split:].contiguous(),
        "step_counts": torch.tensor(step_counts, dtype=torch.int64),
    }


def ragged(entry: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, RaggedLines]:
    """{"ingredients", "steps"}: RaggedLines of a lines entry, `rows` of it in that order."""
    return {
        part: RaggedLines.from_counts(entry[f"{name}_lines"], entry[f"{name}_counts"]).select(rows)
        for part, name in (("ingredients", "ingredient"), ("steps", "step"))
    }
