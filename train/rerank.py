"""Training the region x ingredient re-ranker (model/reranker.py) after the dual encoder.

The dual encoder is frozen at its best epoch; only the scorer trains, on the same training
pairs, on what it will face: each training photo's top K recipes by the dual encoder (its
own recipe put in place of the K-th when the dual encoder ranked it lower), with InfoNCE
over those K final scores (global cosine + alpha * local) at the dual encoder's
temperature. Random in-batch negatives, the first design, taught it to separate recipes the
dual encoder already separates: it lost on val (benchmarks/RESULTS.md).

The mix is then chosen on val the way it is used: image -> recipe R@1 when the dual
encoder's top K of each query are re-ordered (the protocol's bags of 500 pairs), for each
epoch and each multiple of the learned alpha, 0 included. Alpha 0 is the dual encoder's
own order, so a scorer that does not beat it on val is saved switched off
(`Retriever.reranks` is False) and search never spends time on it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from model import Retriever
from model.protocol import BAGS, RECIPE_POOL
from model.recipe_lines import RaggedLines
from pipeline.embed import embed_source

RERANK_BATCH = 64  # training photos per step, each against its K candidates
RERANK_LR = 1e-3
RERANK_WEIGHT_DECAY = 0.01
EVAL_QUERIES = 128  # queries re-ranked at once in evaluation and candidate search
# The final mix, chosen on val per epoch: multiples of the alpha training learned. The
# global cosines are over-confident on the training pairs the dual encoder fitted, so the
# learned alpha is a scale, not the answer; 0 is the dual encoder alone.
ALPHA_MULTIPLES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


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


@torch.no_grad()
def hard_candidates(image: torch.Tensor, recipe: torch.Tensor, k: int) -> torch.Tensor:
    """(n, k) positions of each photo's top k recipes by cosine, its own recipe (same
    position) always among them: put in place of the k-th when ranked lower."""
    k = min(k, len(recipe))
    chunks = []
    for start in range(0, len(image), EVAL_QUERIES):
        top = torch.topk(image[start : start + EVAL_QUERIES] @ recipe.T, k, dim=1).indices
        own = torch.arange(start, start + len(top), device=top.device)
        missing = ~(top == own[:, None]).any(1)
        top[missing, -1] = own[missing]
        chunks.append(top)
    return torch.cat(chunks)


def scorer_epoch(scorer, optimizer, train, candidates, order, scale: float, device) -> float:
    """One epoch of the scorer's steps over the training rows in `order`; the mean loss."""
    total, steps = 0.0, 0
    for start in range(0, len(order), RERANK_BATCH):
        rows = order[start : start + RERANK_BATCH]
        loss = candidate_loss(scorer, train, rows, candidates[rows], scale, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, steps = total + float(loss.detach()), steps + 1
    return total / max(1, steps)


def train_reranker(
    model: Retriever,
    sources: dict,
    inputs: dict[str, dict],
    device: torch.device,
    epochs: int,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Trains model.reranker in place (best val epoch and alpha loaded); returns what metrics.json keeps."""
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
    train = data["train"]
    candidates = hard_candidates(train.image.to(device), train.recipe.to(device), max(k, 2)).cpu()
    dual = val_r1(model, data["val"], device, rerank=False)
    best = None
    history = []
    bar = tqdm(range(1, epochs + 1), desc="re-ranker epochs", disable=not progress)
    for epoch in bar:
        draw = torch.Generator().manual_seed(seed * 7919 + 31 * epoch)
        train_loss = scorer_epoch(
            scorer, optimizer, train, candidates, torch.randperm(len(train), generator=draw), scale, device
        )
        learned = float(scorer.alpha.detach())
        bags = rerank_bags(model, data["val"], device)
        by_alpha = {m: bags.r1(m * learned) for m in ALPHA_MULTIPLES}
        multiple = max(ALPHA_MULTIPLES, key=lambda m: (by_alpha[m], -m))  # ties: the smaller alpha
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "learned_alpha": learned,
                "val_r1_by_alpha_multiple": by_alpha,
                "val_r1_reranked": by_alpha[1.0],
            }
        )
        if best is None or by_alpha[multiple] > best["r1"]:
            best = {"epoch": epoch, "r1": by_alpha[multiple], "alpha": multiple * learned, "state": scorer_state(model)}
        bar.set_postfix(loss=f"{train_loss:.3f}", val_r1=f"{by_alpha[multiple]:.3f}", dual=f"{dual:.3f}")
    model.reranker.load_state_dict(best["state"])
    wins = best["alpha"] != 0.0 and best["r1"] > dual
    with torch.no_grad():
        model.reranker.alpha.fill_(best["alpha"] if wins else 0.0)  # 0: switched off (Retriever.reranks)
    model.requires_grad_(False)
    return training_report(k, best, dual, wins, float(model.reranker.alpha.detach()), history)


def training_report(k: int, best: dict, dual: float, wins: bool, alpha: float, history: list) -> dict:
    """What metrics.json keeps of the re-ranker's training."""
    return {
        "k": k,
        "best_epoch": best["epoch"],
        "val_image_to_recipe_r1_dual": dual,
        "val_image_to_recipe_r1_reranked": best["r1"] if wins else dual,
        "wins_on_val": wins,
        "alpha": alpha,
        "training": f"InfoNCE over each training photo's dual-encoder top {max(k, 2)} recipes",
        "selection": f"epoch and alpha (multiples {list(ALPHA_MULTIPLES)} of the learned one) by val "
        f"image->recipe R@1 of the re-ranked top {k} (bags of up to {RECIPE_POOL} pairs); alpha 0 = off",
        "epochs": history,
    }


def candidate_loss(scorer, rows: PairRows, batch: torch.Tensor, candidates: torch.Tensor, scale: float, device):
    """InfoNCE of each photo in `batch` against its candidate recipes (B, K), its own among them."""
    count = candidates.shape[1]
    lines, counts = rows.ingredients.padded(candidates.flatten())
    lines = lines.view(len(batch), count, *lines.shape[1:]).to(device)
    local = scorer.local(rows.regions[batch].to(device, torch.float32)[:, None], lines, counts.view(len(batch), count))
    global_scores = (rows.image[batch].to(device)[:, None] * rows.recipe[candidates].to(device)).sum(-1)
    target = (candidates == batch[:, None]).float().argmax(1).to(device)
    return F.cross_entropy(scale * scorer.final(global_scores, local), target)


def scorer_state(model: Retriever) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.reranker.state_dict().items()}


@dataclass
class RerankBags:
    """Per bag of the protocol: each query's top K global cosines (Q, K), local scores (Q, K)
    and which candidate is its match (Q, K), so any alpha is scored without the scorer."""

    bags: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

    def r1(self, alpha: float) -> float:
        """Mean R@1 over the bags with final = global + alpha * local. A match outside the
        top K is a miss; ties count against the model, as in train/metrics.py."""
        hits = []
        for values, local, is_match in self.bags:
            final = values + alpha * local
            match_score = torch.where(is_match, final, torch.full_like(final, -math.inf)).max(1).values
            first = is_match.any(1) & ((final >= match_score[:, None]).sum(1) == 1)
            hits.append(first.float().mean())
        return float(torch.stack(hits).mean())


@torch.no_grad()
def rerank_bags(model: Retriever, rows: PairRows, device: torch.device, local: bool = True) -> RerankBags:
    """The protocol's bags of one split's pairs (seed 0, as train/metrics.py draws them),
    each query's top K scored by the dual encoder and (`local`) by the scorer."""
    scorer, k = model.reranker, model.config.rerank
    n = len(rows)
    pool, count = (n, 1) if n <= RECIPE_POOL else (RECIPE_POOL, BAGS)
    k = min(k, pool)
    generator = torch.Generator().manual_seed(0)
    regions = ingredients = counts = None
    if local:  # each row projected once; pairs are formed per bag
        regions = torch.cat(
            [
                scorer.project_regions(rows.regions[s : s + EVAL_QUERIES].to(device, torch.float32))
                for s in range(0, n, EVAL_QUERIES)
            ]
        )
        lines, counts = rows.ingredients.padded()
        ingredients = scorer.project_ingredients(lines.to(device))
    bags = []
    for _ in range(count):
        bag = torch.randperm(n, generator=generator)[:pool]
        sims = rows.image[bag].to(device) @ rows.recipe[bag].to(device).T  # (pool, pool)
        top = torch.topk(sims, k, dim=1)  # the dual encoder's candidates, positions in the bag
        is_match = top.indices == torch.arange(len(bag), device=top.indices.device)[:, None]
        scores = torch.zeros_like(top.values)
        if local:
            candidates = bag.to(top.indices.device)[top.indices]
            scores = torch.cat(
                [
                    scorer.local_projected(
                        regions[bag[q : q + EVAL_QUERIES]][:, None],
                        ingredients[candidates[q : q + EVAL_QUERIES]],
                        counts[candidates[q : q + EVAL_QUERIES].cpu()],
                    )
                    for q in range(0, len(bag), EVAL_QUERIES)
                ]
            )
        bags.append((top.values, scores, is_match))
    return RerankBags(bags)


def val_r1(model: Retriever, rows: PairRows, device: torch.device, rerank: bool = True) -> float:
    """Mean image -> recipe R@1 over the protocol's bags when each query's top K are
    re-ordered by the final score at the scorer's alpha (rerank=False: the dual encoder alone)."""
    if not rerank:
        return rerank_bags(model, rows, device, local=False).r1(0.0)
    return rerank_bags(model, rows, device).r1(float(model.reranker.alpha.detach()))


def report(result: dict, out=sys.stderr) -> None:
    dual, reranked = result["val_image_to_recipe_r1_dual"], result["val_image_to_recipe_r1_reranked"]
    if not result["wins_on_val"]:
        line = (
            f"re-ranker (top {result['k']}): no epoch or alpha beats the dual encoder's val image->recipe "
            f"R@1 {dual:.3f}; saved switched off (alpha 0): search keeps the dual encoder's order"
        )
    else:
        line = (
            f"re-ranker (top {result['k']}): val image->recipe R@1 {reranked:.3f} re-ranked vs {dual:.3f} "
            f"dual encoder alone (epoch {result['best_epoch']}, alpha {result['alpha']:.3f})"
        )
    print(line, file=out)
