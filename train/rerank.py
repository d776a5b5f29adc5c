"""Training the region x ingredient re-ranker (model/reranker.py) after the dual encoder.

The dual encoder is frozen at its best epoch; only the scorer trains, on the same training
pairs: in-batch InfoNCE over image -> recipe final scores (global cosine + alpha * local),
at the dual encoder's temperature. The global cosines are the plain (unexpanded) unit
vectors of the recipe vector the model chose on val, computed once.

Each epoch is scored on val the way it is used: image -> recipe R@1 when the dual
encoder's top K of each query are re-ordered by the final score (the protocol's bags of
500 pairs), beside the dual encoder alone; the best epoch is kept. If no epoch beats the
dual encoder the scorer is still saved (the caller says so): the figures show it.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from tqdm import tqdm

from model import Retriever
from model.protocol import BAGS, RECIPE_POOL
from model.recipe_lines import RaggedLines
from pipeline.embed import embed_source

RERANK_EPOCHS = 4
RERANK_BATCH = 64  # pairs per step: 64 x 64 candidate pairs of (ingredients x 49 regions) each
RERANK_LR = 1e-3
RERANK_WEIGHT_DECAY = 0.01
EVAL_QUERIES = 128  # queries re-ranked at once in evaluation


class PairRows:
    """The rows with a recipe of one split: their plain unit vectors, regions and ingredient lines."""

    def __init__(self, model: Retriever, source, inputs: dict, device: torch.device):
        rows = torch.nonzero(source.has_recipe).flatten()
        embeds = embed_source(model, source, device)
        self.image = embeds["image"][rows]
        self.recipe = embeds[model.fitted.recipe_vector][rows]
        self.regions = inputs["regions"][rows]
        self.ingredients: RaggedLines = inputs["ingredients"].select(rows)

    def __len__(self) -> int:
        return len(self.image)


def train_reranker(
    model: Retriever,
    sources: dict,
    inputs: dict[str, dict],
    device: torch.device,
    epochs: int = RERANK_EPOCHS,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Trains model.reranker in place (best val epoch loaded); returns what metrics.json keeps."""
    model.to(device).eval()  # the dual encoder's dropout off: its vectors are fixed
    data = {name: PairRows(model, sources[name], inputs[name], device) for name in ("train", "val")}
    if epochs < 1:
        raise ValueError(f"the re-ranker trains for at least 1 epoch, got {epochs}")
    if len(data["train"]) < 2 or len(data["val"]) < 2:
        raise ValueError("the re-ranker needs at least 2 full recipes in train and in val")
    model.requires_grad_(False)
    scorer = model.reranker
    scorer.requires_grad_(True)
    optimizer = torch.optim.AdamW(scorer.parameters(), lr=RERANK_LR, weight_decay=RERANK_WEIGHT_DECAY)
    scale = float(model.clamped_logit_scale().detach())
    k = model.config.rerank
    dual = val_r1(model, data["val"], device, rerank=False)
    # Epoch 0, the untrained scorer, is recorded but never chosen: the saved scorer is a trained one.
    history = [
        {"epoch": 0, "val_r1_reranked": val_r1(model, data["val"], device), "alpha": float(scorer.alpha.detach())}
    ]
    best = None
    train = data["train"]
    bar = tqdm(range(1, epochs + 1), desc="re-ranker epochs", disable=not progress)
    for epoch in bar:
        draw = torch.Generator().manual_seed(seed * 7919 + 31 * epoch)
        order = torch.randperm(len(train), generator=draw)
        total, steps = 0.0, 0
        for start in range(0, len(order), RERANK_BATCH):
            rows = order[start : start + RERANK_BATCH]
            if len(rows) < 2:
                continue
            lines, counts = train.ingredients.padded(rows)
            local = scorer.local(
                train.regions[rows].to(device, torch.float32)[:, None], lines.to(device)[None], counts[None]
            )  # (B photos, B recipes)
            global_scores = train.image[rows].to(device) @ train.recipe[rows].to(device).T
            logits = scale * scorer.final(global_scores, local)
            loss = F.cross_entropy(logits, torch.arange(len(rows), device=device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        r1 = val_r1(model, data["val"], device)
        history.append(
            {
                "epoch": epoch,
                "train_loss": total / max(1, steps),
                "val_r1_reranked": r1,
                "alpha": float(scorer.alpha.detach()),
            }
        )
        if best is None or r1 > best["r1"]:
            best = {"epoch": epoch, "r1": r1, "state": scorer_state(model)}
        bar.set_postfix(loss=f"{total / max(1, steps):.3f}", val_r1=f"{r1:.3f}", dual=f"{dual:.3f}")
    model.reranker.load_state_dict(best["state"])
    model.requires_grad_(False)
    return {
        "k": k,
        "best_epoch": best["epoch"],
        "val_image_to_recipe_r1_dual": dual,
        "val_image_to_recipe_r1_reranked": best["r1"],
        "wins_on_val": best["r1"] > dual,
        "alpha": float(model.reranker.alpha.detach()),
        "selection": f"epoch by val image->recipe R@1 of the re-ranked top {k} (bags of up to {RECIPE_POOL} pairs)",
        "epochs": history,
    }


def scorer_state(model: Retriever) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.reranker.state_dict().items()}


@torch.no_grad()
def val_r1(model: Retriever, rows: PairRows, device: torch.device, rerank: bool = True) -> float:
    """Mean image -> recipe R@1 over the protocol's bags (seed 0, as train/metrics.py draws
    them) when each query's top K are re-ordered by the final score (rerank=False: the
    dual encoder alone). Ties count against the model, as in train/metrics.py."""
    scorer, k = model.reranker, model.config.rerank
    n = len(rows)
    pool, bags = (n, 1) if n <= RECIPE_POOL else (RECIPE_POOL, BAGS)
    generator = torch.Generator().manual_seed(0)
    regions = ingredients = counts = None
    if rerank:  # each row projected once; pairs are formed per bag
        regions = torch.cat(
            [
                scorer.project_regions(rows.regions[s : s + EVAL_QUERIES].to(device, torch.float32))
                for s in range(0, n, EVAL_QUERIES)
            ]
        )
        lines, counts = rows.ingredients.padded()
        ingredients = scorer.project_ingredients(lines.to(device))
    hits = []
    for _ in range(bags):
        bag = torch.randperm(n, generator=generator)[:pool]
        sims = rows.image[bag].to(device) @ rows.recipe[bag].to(device).T  # (pool, pool)
        true = sims.diagonal()
        first = (sims >= true[:, None]).sum(1) == 1
        if rerank:
            first = reranked_first(scorer, sims, bag, regions, ingredients, counts, min(k, pool))
        hits.append(first.float().mean())
    return float(torch.stack(hits).mean())


def reranked_first(scorer, sims, bag, regions, ingredients, counts, k: int) -> torch.Tensor:
    """(pool,) whether each query's match is first once its top k are re-scored."""
    firsts = []
    for start in range(0, len(bag), EVAL_QUERIES):
        queries = torch.arange(start, min(start + EVAL_QUERIES, len(bag)))
        top = torch.topk(sims[queries], k, dim=1)  # (Q, k) dual encoder's candidates, positions in the bag
        candidates = bag.to(top.indices.device)[top.indices]
        local = scorer.local_projected(
            regions[bag[queries]][:, None], ingredients[candidates], counts[candidates.cpu()]
        )  # (Q, k)
        final = scorer.final(top.values, local)
        is_match = top.indices == queries.to(top.indices.device)[:, None]
        match_score = torch.where(is_match, final, torch.full_like(final, -math.inf)).max(1).values
        # In the top k and no other candidate scoring as high (ties against the model).
        firsts.append(is_match.any(1) & ((final >= match_score[:, None]).sum(1) == 1))
    return torch.cat(firsts)


def report(result: dict, out=sys.stderr) -> None:
    dual, reranked = result["val_image_to_recipe_r1_dual"], result["val_image_to_recipe_r1_reranked"]
    line = (
        f"re-ranker (top {result['k']}): val image->recipe R@1 {reranked:.3f} re-ranked vs {dual:.3f} "
        f"dual encoder alone (epoch {result['best_epoch']}, alpha {result['alpha']:.3f})"
    )
    if not result["wins_on_val"]:
        line += "; re-ranking does NOT beat the dual encoder on val (saved anyway: the figures show it)"
    print(line, file=out)
