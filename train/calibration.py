"""Fit how sure an answer is (model/confidence.py) on val, under the app's conditions.

`python -m train` does this last; for a model trained before it existed (or to refit it):

    python -m train.calibration --model DIR --index DIR     # the index the app searches
    python -m train.calibration --model DIR --data DIR      # or embed the collection anew

Protocol: the app searches its whole index (every split's rows), so each val query is
searched against the whole pool, as the app would: photo -> recipe (the photo's vector
expanded as the app expands it, searched among rows with a recipe on the model's recipe
vector), title -> recipe ("fused" among rows with a recipe, no expansion) and pasted
recipe -> photo (the recipe vector expanded, searched among every photo). The query's own
row is the right answer. No filter is applied (a filtered search is a smaller pool; its
first answers are, if anything, likelier right). The mappings are fitted on val queries
only; test queries are scored afterwards (`score`), never used for a choice.

"Same kind of dish": model/dish_kinds.py's class of the first result's title equals that
of the query's own title (classes: the model's dish classes when training fitted them,
else the same rule's classes fitted on the training titles; a title of no class,
"background", counts as not the same kind).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from embeddings import load_index
from embeddings.serving.manifest import fused_vectors
from model import load_pretrained, save_pretrained
from model.atomic import atomic_write_json
from model.confidence import (
    CLOSEST,
    LOOKS_LIKE_PRECISION,
    Confidence,
    DirectionConfidence,
    StepMap,
)
from model.dish_kinds import class_index, dish_class
from pipeline.embed import embed_collection
from pipeline.features import DEFAULT_CACHE
from pipeline.read import load_recipes
from pipeline.splits import split_name, split_of

from .dish_classes import fit_title_classes

QUERY_KINDS = ("image_to_recipe", "title_to_recipe", "recipe_to_image")
SHOWN_KS = (1, 3, 5, 8, 10, 15, 20, 30)
MARGIN_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
MIN_QUERIES = 4  # val queries below which a kind of query gets no mapping
MIN_SURE = 20  # val queries a "looks like" vote count must cover to be trusted
BINS = 10
POOL_WORDS = "every row of the index the app searches; val queries fit, test queries score"


@dataclass
class Pool:
    """Every row the app's index holds: unit vectors, titles, splits."""

    image: torch.Tensor
    title: torch.Tensor
    recipe: torch.Tensor  # zero on rows without a recipe
    has_recipe: torch.Tensor
    titles: list[str]
    splits: list[str]

    def field(self, name: str) -> torch.Tensor:
        if name == "fused":
            return fused_vectors(self.title, self.recipe, self.has_recipe)
        return getattr(self, name)


def pool_from_index(index) -> Pool:
    """The pool of an index folder (its split from each row's id, as pipeline/splits.py does)."""
    vectors = {name: index.vectors(name).float() for name in ("image", "title", "recipe")}
    ids = index.column("id")
    return Pool(
        **vectors,
        has_recipe=torch.as_tensor(index.has_recipe),
        titles=index.column("title"),
        splits=[split_of(str(i)) for i in ids],
    )


def pool_from_embeds(embeds: dict, has_recipe: torch.Tensor, titles: list[str], splits: list[str]) -> Pool:
    return Pool(embeds["image"].float(), embeds["title"].float(), embeds["recipe"].float(), has_recipe, titles, splits)


@dataclass
class Observed:
    """What each query of one kind saw: its first two scores, where its own row ranked
    (1-based), and its first CLOSEST results' rows."""

    scores: np.ndarray  # (Q, 2)
    rank: np.ndarray  # (Q,)
    top: np.ndarray  # (Q, CLOSEST)
    rows: np.ndarray  # (Q,) the query rows


def observe(model, pool: Pool, kind: str, split: str, chunk: int = 512) -> Observed:
    """Search every `split` row with a recipe against the whole pool, as the app does."""
    rows = np.array([i for i, s in enumerate(pool.splits) if s == split and bool(pool.has_recipe[i])], dtype=np.int64)
    if kind == "image_to_recipe":
        queries, candidates, allowed = pool.image, pool.field(model.fitted.recipe_vector), pool.has_recipe
    elif kind == "title_to_recipe":
        queries, candidates, allowed = pool.title, pool.field("fused"), pool.has_recipe
    else:
        queries, candidates, allowed = pool.recipe, pool.image, torch.ones_like(pool.has_recipe)
    scores, ranks, tops = [], [], []
    for start in range(0, len(rows), chunk):
        batch = torch.from_numpy(rows[start : start + chunk])
        with torch.no_grad():
            q = queries[batch]
            q = model.expand(kind, q) if kind != "title_to_recipe" else q
            s = (q @ candidates.T).masked_fill(~allowed[None, :], float("-inf"))
        own = s[torch.arange(len(batch)), batch]
        ranks.append((s > own[:, None]).sum(1).numpy() + 1)
        best = s.topk(max(2, CLOSEST), dim=1)
        scores.append(best.values[:, :2].numpy())
        tops.append(best.indices[:, :CLOSEST].numpy())
    empty = np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros((0, CLOSEST), np.int64)
    if not scores:
        return Observed(*empty, rows)
    return Observed(np.concatenate(scores), np.concatenate(ranks), np.concatenate(tops), rows)


def kinds_of(titles: list[str], kinds: list[str]) -> np.ndarray:
    index = class_index(kinds)
    return np.array([dish_class(t, index) for t in titles], dtype=np.int64)


def outcomes(seen: Observed, kind_of_row: np.ndarray) -> dict[str, np.ndarray]:
    """{"first", "same_kind", "shown:k"}: 0/1 per query."""
    own_kind = kind_of_row[seen.rows]
    out = {
        "first": (seen.rank == 1).astype(float),
        "same_kind": ((kind_of_row[seen.top[:, 0]] == own_kind) & (own_kind > 0)).astype(float),
    }
    for k in SHOWN_KS:
        out[f"shown:{k}"] = (seen.rank <= k).astype(float)
    return out


def figure(scores: np.ndarray, weight: float) -> np.ndarray:
    return scores[:, 0] + weight * (scores[:, 0] - scores[:, 1])


def brier_two_fold(z: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the isotonic fit, fitted on one half of the queries and scored on the other."""
    halves = np.arange(len(z)) % 2 == 0
    errors = []
    for fit in (halves, ~halves):
        mapping = StepMap.fit(z[fit], y[fit])
        errors.append(np.mean([(mapping(v) - t) ** 2 for v, t in zip(z[~fit], y[~fit])]))
    return float(np.mean(errors))


def fit_direction(seen: Observed, kind_of_row: np.ndarray) -> DirectionConfidence:
    y = outcomes(seen, kind_of_row)
    weight = min(MARGIN_WEIGHTS, key=lambda w: brier_two_fold(figure(seen.scores, w), y["first"]))
    z = figure(seen.scores, weight)
    return DirectionConfidence(
        margin_weight=weight,
        first=StepMap.fit(z, y["first"]),
        same_kind=StepMap.fit(z, y["same_kind"]),
        shown={str(k): StepMap.fit(z, y[f"shown:{k}"]) for k in SHOWN_KS},
        val_queries=len(z),
    )


def vote(top_kinds: np.ndarray) -> list[tuple[int, int]]:
    """[(kind, votes)] of one query's closest results, most votes first (ties: the kind
    met first), background left out."""
    counts = Counter(int(k) for k in top_kinds if k > 0)
    first_seen = {int(k): i for i, k in reversed(list(enumerate(top_kinds)))}
    return sorted(counts.items(), key=lambda item: (-item[1], first_seen[item[0]]))


def looks_like_outcomes(seen: Observed, kind_of_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(votes of the leading kind, whether it is the query's own kind) per query."""
    votes, right = [], []
    for row, top in zip(seen.rows, seen.top):
        ranked = vote(kind_of_row[top])
        votes.append(ranked[0][1] if ranked else 0)
        right.append(bool(ranked) and ranked[0][0] == kind_of_row[row] and kind_of_row[row] > 0)
    return np.array(votes), np.array(right, dtype=bool)


def fit_looks_like(seen: Observed, kind_of_row: np.ndarray) -> dict:
    votes, right = looks_like_outcomes(seen, kind_of_row)
    chosen = {"closest": CLOSEST, "min_votes": None, "val_queries": len(votes)}
    for least in range(1, CLOSEST + 1):
        covered = votes >= least
        if covered.sum() >= MIN_SURE and right[covered].mean() >= LOOKS_LIKE_PRECISION:
            chosen.update(
                min_votes=least, val_precision=float(right[covered].mean()), val_coverage=float(covered.mean())
            )
            break
    return chosen


def fit_confidence(model, pool: Pool, kinds: list[str] | None = None) -> Confidence:
    """Fit on the pool's val rows; the model's fitted state keeps the result."""
    if kinds is None:
        train_titles = [t for t, s in zip(pool.titles, pool.splits) if s == "train"]
        kinds = list(model.fitted.dish_classes) or fit_title_classes(train_titles)
    kind_of_row = kinds_of(pool.titles, kinds)
    directions, looks_like = {}, {}
    for kind in QUERY_KINDS:
        seen = observe(model, pool, kind, "val")
        if len(seen.rows) < MIN_QUERIES:  # a tiny collection: this kind of answer says it has no estimate
            continue
        directions[kind] = fit_direction(seen, kind_of_row)
        if kind == "image_to_recipe":
            looks_like = fit_looks_like(seen, kind_of_row)
    model.fitted.confidence = Confidence(kinds=kinds, directions=directions, looks_like=looks_like, pool=POOL_WORDS)
    return model.fitted.confidence


def reliability(predicted: np.ndarray, happened: np.ndarray) -> dict:
    """{"ece", "bins": [{"low", "high", "queries", "predicted", "observed"}]}: BINS equal-width bins."""
    bins, ece = [], 0.0
    for b in range(BINS):
        low, high = b / BINS, (b + 1) / BINS
        inside = (predicted >= low) & ((predicted < high) if b < BINS - 1 else (predicted <= high))
        if inside.any():
            p, o = float(predicted[inside].mean()), float(happened[inside].mean())
            ece += inside.sum() / len(predicted) * abs(p - o)
            bins.append({"low": low, "high": high, "queries": int(inside.sum()), "predicted": p, "observed": o})
    return {"ece": float(ece), "queries": len(predicted), "bins": bins}


def score(model, pool: Pool, split: str = "test", shown_k: int = 8) -> dict:
    """Test figures of the fitted mappings: a reliability table per (query kind, outcome)
    and the "looks like" rule's coverage and precision."""
    confidence = model.fitted.confidence
    kind_of_row = kinds_of(pool.titles, confidence.kinds)
    out = {}
    for kind, fitted in confidence.directions.items():
        seen = observe(model, pool, kind, split)
        y = outcomes(seen, kind_of_row)
        z = figure(seen.scores, fitted.margin_weight)
        k, shown = fitted.among(shown_k)
        out[kind] = {
            "first": reliability(np.array([fitted.first(v) for v in z]), y["first"]),
            f"shown:{k}": reliability(np.array([shown(v) for v in z]), y[f"shown:{k}"]),
            "same_kind": reliability(np.array([fitted.same_kind(v) for v in z]), y["same_kind"]),
        }
        if kind == "image_to_recipe":
            votes, right = looks_like_outcomes(seen, kind_of_row)
            least = confidence.looks_like.get("min_votes")
            covered = votes >= least if least else np.zeros(len(votes), bool)
            out["looks_like"] = {
                "min_votes": least,
                "coverage": float(covered.mean()) if len(votes) else 0.0,
                "precision": float(right[covered].mean()) if covered.any() else None,
                "queries": len(votes),
                "leading_kind_right_any_votes": float(right.mean()) if len(votes) else 0.0,
            }
    return out


def describe(figures: dict) -> str:
    lines = []
    for kind, outcomes_ in figures.items():
        if kind == "looks_like":
            precision = outcomes_["precision"]
            lines.append(
                f"  looks like (at least {outcomes_['min_votes']} of {CLOSEST}): coverage {outcomes_['coverage']:.1%}, "
                f"precision {'-' if precision is None else f'{precision:.1%}'} ({outcomes_['queries']} photos)"
            )
            continue
        cells = ", ".join(f"{name} ECE {r['ece']:.3f}" for name, r in outcomes_.items())
        lines.append(f"  {kind} ({next(iter(outcomes_.values()))['queries']} queries): {cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.calibration", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, required=True, help="a model folder written by `python -m train`")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", type=Path, help="the index folder the app searches with this model")
    source.add_argument("--data", help="the collection it was trained on (embedded anew)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="backbone feature cache (with --data)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    model = load_pretrained(args.model)
    pool = read_pool(model, args)
    fit_confidence(model, pool)
    save_pretrained(model, args.model)
    figures = score(model, pool)
    atomic_write_json(args.model / "confidence_test.json", figures)
    looks = model.fitted.confidence.looks_like
    said = (
        f"at least {looks['min_votes']} of {CLOSEST} "
        f"(val precision {looks['val_precision']:.1%}, coverage {looks['val_coverage']:.1%})"
        if looks.get("min_votes")
        else f"never (no vote count reached {LOOKS_LIKE_PRECISION:.0%} on val)"
    )
    print(f"how sure answers are: fitted on val ({POOL_WORDS}); 'looks like' said when {said}")
    print(f"test split (reported, never used to choose):\n{describe(figures)}")
    return 0


def read_pool(model, args) -> Pool:
    if args.index is not None:
        index = load_index(args.index)
        index.check_model(model)
        return pool_from_index(index)
    recipes = load_recipes(args.data, progress=not args.quiet)
    embeds, has_recipe = embed_collection(model, recipes, args.cache_dir, progress=not args.quiet)
    return pool_from_embeds(embeds, has_recipe, [r.title for r in recipes], [split_name(r) for r in recipes])


if __name__ == "__main__":
    sys.exit(main())
