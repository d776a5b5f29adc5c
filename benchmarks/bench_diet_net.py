"""Would a second net from the text model make the diet chips hold better? A recipe is also
left out when one of its ingredient lines (or its title) sits near the chip's own words in
the text backbone's space (cosine >= tau to any of them); scored on the hand-labelled audit
set against the word lists alone (benchmarks/bench_diet_audit.py).

    python benchmarks/bench_diet_net.py --data ../shared/data/epicurious --model DIR
        [--diets FILE] [--taus 0.6 0.7 0.8 0.9]

The prototypes are the chip's word list itself, each word embedded alone by the model's
recipe text backbone (mean-pooled MiniLM for the default and quick models); a line is the
line as written. The set is small and was also used to fix the word lists, so run it with
the lists as they were before that (`--diets`, e.g. `git show cab67ab:ui/diets.toml`) for a
blind comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.bench_diet_audit import AUDIT, CHIPS, TRUE, audited_recipes, read_audit
from benchmarks.common import shown, write_result


def embed(backbone, texts: list[str], batch: int = 256) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            vectors = backbone(texts[start : start + batch], 64).float()
            out.append(torch.nn.functional.normalize(vectors, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--model", type=Path, required=True, help="a model folder (its recipe text backbone is used)")
    p.add_argument("--audit", type=Path, default=AUDIT)
    p.add_argument("--diets", type=Path, default=None)
    p.add_argument("--taus", type=float, nargs="+", default=[0.6, 0.7, 0.75, 0.8, 0.85, 0.9])
    args = p.parse_args(argv)
    from embeddings.serving.ingredients import IngredientWords, term_text
    from model import load_pretrained
    from ui.filters import DIETS_FILE, load_diets

    diets, _ = load_diets(args.diets or DIETS_FILE)
    backbone = load_pretrained(args.model).recipe_encoder
    recipes = audited_recipes(Path(args.data))
    rows = [row for row in read_audit(args.audit) if row["image_name"] in recipes]
    chosen = [recipes[row["image_name"]] for row in rows]
    words = IngredientWords([r.ingredients for r in chosen], [r.title for r in chosen])
    texts = [[r.title, *r.ingredients] for r in chosen]
    flat = [t for group in texts for t in group]
    owner = np.array([i for i, group in enumerate(texts) for _ in group])
    vectors = embed(backbone, flat)
    figures = {}
    for chip in CHIPS:
        breaks = np.array([str(row[f"breaks_{chip}"]).strip().lower() in TRUE for row in rows])
        lexicon = words.mask([], diets[chip]["without"])
        prototypes = embed(backbone, [term_text(term) for term in diets[chip]["without"]])
        nearest = (vectors @ prototypes.T).max(axis=1)
        best = np.full(len(rows), -1.0)
        np.maximum.at(best, owner, nearest)
        by_tau = {"words only": (lexicon, None)}
        for tau in args.taus:
            by_tau[f"tau {tau:g}"] = (lexicon & (best < tau), tau)
        figures[chip] = {
            name: {
                "kept_that_break": int((kept & breaks).sum()),
                "leak": float(kept[breaks].mean()),
                "recall": float(kept[~breaks].mean()),
            }
            for name, (kept, _) in by_tau.items()
        }
        print(f"\n{chip} ({int(breaks.sum())} of {len(rows)} break it)")
        for name, f in figures[chip].items():
            kept = f"keeps {f['kept_that_break']} that break it (leak {f['leak']:.1%})"
            print(f"  {name:>10}: {kept}, recall {f['recall']:.1%}")
    write_result(
        "diet_net",
        {
            "audit": shown(args.audit),
            "diets": shown(args.diets or DIETS_FILE),
            "model": shown(args.model),
            "figures": figures,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
