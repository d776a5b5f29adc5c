""" "Like this, but …": does the typed word move a photo search where it says, and how far
should it? Chooses the app's default weight (embeddings/serving/refine.py BUT_WEIGHT) on val and
reports test.

    python benchmarks/bench_refine.py --index artifacts/index [--model DIR] [--photos 200] [--words 30]

Protocol. Queries: photos of one split's rows that have a recipe; pool: that split's
recipes (val ~660, test ~620 on the Epicurious sample), so neither side was trained on.
Words: the `--words` most common words of the model's ingredient vocabulary (food words)
that occur in 3-25% of the training rows' ingredient lists. For each
query photo, 3 words its own recipe does not hold. For each weight w in 0, 0.1, ..., 1 the
query is the app's: blend(expanded photo vector, title encoder(word), w); its top 10 recipes
are scored by
    moves: the share holding the word in an ingredient line (whole word, any plural);
    keeps: the share among the photo-alone top 100 of the pool (still like this photo).
The default is the weight with the best harmonic mean of the two on val.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from benchmarks.common import load_average, shown, write_result

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
TOP, KEEP_POOL, WORDS_PER_PHOTO = 10, 100, 3


def food_words(words, train_rows, count: int, vocabulary: list[str]) -> list[str]:
    """The most common words of the model's ingredient vocabulary (food words: training's
    stop list drops quantities and preparations, train/ingredients.py) held by 3-25% of the
    training rows' ingredient lists: common enough to find, rare enough to mean something."""
    seen = Counter()
    for row in train_rows:
        seen.update({w for line in words.lines[row] for w in line})
    total, known = len(train_rows), set(vocabulary)
    fitting = [w for w, n in seen.most_common() if 0.03 * total <= n <= 0.25 * total]
    return [w for w in fitting if w in known and w.isalpha()][:count]


def measure_split(index, model, words, split_rows, vocabulary, photos: int, seed: int) -> dict:
    import numpy as np
    import torch

    from embeddings.serving.refine import blend

    rng = np.random.default_rng(seed)
    pool = np.zeros(index.count, bool)
    pool[split_rows] = True
    pool &= index.has_recipe
    queries = [int(r) for r in rng.permutation(np.flatnonzero(pool))[:photos]]
    field = model.fitted.recipe_vector
    image = index.vectors("image").float()
    holds = {w: words.rows_with((w,)) for w in vocabulary}
    with torch.no_grad():
        word_vectors = {w: model.encode_title([w])[0] for w in vocabulary}
    moves = {w: [] for w in WEIGHTS}
    keeps = {w: [] for w in WEIGHTS}
    for row in queries:
        with torch.no_grad():
            photo = model.expand("image_to_recipe", image[row : row + 1])[0]
        near = {h.row for h in index.search(photo.numpy(), field, KEEP_POOL, rows=pool)}
        absent = [w for w in vocabulary if not holds[w][row]]
        for word in rng.choice(absent, size=min(WORDS_PER_PHOTO, len(absent)), replace=False):
            for weight in WEIGHTS:
                hits = index.search(blend(photo, word_vectors[word], weight).numpy(), field, TOP, rows=pool)
                moves[weight].append(np.mean([holds[word][h.row] for h in hits]))
                keeps[weight].append(np.mean([h.row in near for h in hits]))
    table = {}
    for weight in WEIGHTS:
        m, k = float(np.mean(moves[weight])), float(np.mean(keeps[weight]))
        table[str(weight)] = {
            "moves": round(m, 4),
            "keeps": round(k, 4),
            "balance": round(2 * m * k / (m + k) if m + k else 0.0, 4),
        }
    return {"queries": len(queries), "pairs": len(moves[0.0]), "pool": int(pool.sum()), "by_weight": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("artifacts/index"))
    parser.add_argument("--model", help="model folder (default: the one the index names)")
    parser.add_argument("--photos", type=int, default=200, help="query photos per split")
    parser.add_argument("--words", type=int, default=30, help="food words to add")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np

    from embeddings import load_index
    from embeddings.serving.hub import load_model
    from embeddings.serving.ingredients import IngredientWords
    from pipeline.splits import split_of

    loads = [load_average()]
    index = load_index(args.index)
    model = load_model(args.model or index.manifest["model"]["source"]).eval()
    words = IngredientWords(index.column("ingredients"))
    splits = np.array([split_of(str(i)) for i in index.column("id")])
    if not model.fitted.ingredient_vocab:
        raise SystemExit("this model has no ingredient vocabulary (trained with --ingredient-weight 0)")
    train_rows = np.flatnonzero((splits == "train") & index.has_recipe)
    vocabulary = food_words(words, train_rows, args.words, model.fitted.ingredient_vocab)
    print(f"words: {', '.join(vocabulary)}", flush=True)
    results = {}
    for split in ("val", "test"):
        results[split] = measure_split(
            index, model, words, np.flatnonzero(splits == split), vocabulary, args.photos, args.seed
        )
        print(f"\n{split}: {results[split]['pairs']} (photo, word) pairs, pool {results[split]['pool']} recipes")
        print("weight  moves  keeps  balance")
        for weight, row in results[split]["by_weight"].items():
            print(f"{weight:>6}  {row['moves']:.3f}  {row['keeps']:.3f}  {row['balance']:.3f}")
    val = results["val"]["by_weight"]
    chosen = max(val, key=lambda w: val[w]["balance"])
    test = results["test"]["by_weight"]
    print(
        f"\nchosen on val: weight {chosen}; test: {100 * test[chosen]['moves']:.0f}% of the top 10 hold the added "
        f"word (photo alone: {100 * test['0.0']['moves']:.0f}%), {100 * test[chosen]['keeps']:.0f}% are still among "
        "the photo's own 100 nearest"
    )
    loads.append(load_average())
    write_result(
        "refine",
        {
            "index": shown(args.index),
            "model": shown(args.model or index.manifest["model"]["source"]),
            "protocol": f"top {TOP} of the split's recipes; keeps = share in the photo-alone top {KEEP_POOL}; "
            f"{WORDS_PER_PHOTO} absent words per photo",
            "words": vocabulary,
            "chosen_on_val": float(chosen),
            "test_at_chosen": test[chosen],
            "test_photo_alone": test["0.0"],
            "splits": results,
            "load_average": loads,
        },
    )


if __name__ == "__main__":
    main()
