"""Photo regions for the region x ingredient re-ranker (model/reranker.py): each photo's
last spatial feature map before pooling (Lite0: 1280 x 7 x 7 -> 49 vectors of 1280),
view 0 (the plain crop) only, float16: the crop a query photo gets when searching.

Two ways to them:
  extract_regions  the pretrained backbone on decoded photos: what the `regions-<key>`
                   cache entry holds (pipeline/features.py keys it like the views entries:
                   backbone, preprocessing, rows' hashes). Under torchrun each rank runs
                   its batches, rank 0 assembles them, as for the other entries.
  tail_regions     a model whose top blocks were fine-tuned on cached trunk activations:
                   the tuned blocks run on the cached view-0 trunk (trained weights, so
                   never cached under a key naming the pretrained backbone).
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from model import Retriever
from model.reranker import regions_of

from .photos import ViewDataset
from .records import Recipe
from .world import World

REGION_BATCH = 64
TAIL_BATCH = 256  # only the top blocks on 7x7 activations: cheap per row


@torch.inference_mode()
def extract_regions(
    model: Retriever, recipes: list[Recipe], progress: bool = True, part: World = World(), workers: int = 1
) -> dict[str, torch.Tensor]:
    """{"regions": (N, R, C) float16} of `recipes`' plain crops; `part`: this rank's
    batches only, with "rows" saying which."""
    model.eval()
    mine = part.batch_rows(len(recipes), REGION_BATCH)
    loader = DataLoader(
        ViewDataset([(recipes[i], 0) for i in mine], model), batch_size=REGION_BATCH, num_workers=workers
    )
    out = []
    for pixels in tqdm(loader, desc="photo regions", unit="batch", disable=not progress):
        out.append(regions_of(model.image_encoder.feature_map(pixels.to(model.device))).cpu().to(torch.float16))
    regions = torch.cat(out) if out else torch.zeros(0, 0, 0, dtype=torch.float16)
    return (
        {"regions": regions} if part.size == 1 else {"regions": regions, "rows": torch.tensor(mine, dtype=torch.int64)}
    )


@torch.inference_mode()
def tail_regions(model: Retriever, trunk: torch.Tensor, top: int, progress: bool = True) -> torch.Tensor:
    """(N, c, h, w) cached view-0 trunk activations -> (N, R, C) float16 regions through
    the model's (fine-tuned) top `top` blocks."""
    model.eval()
    out = []
    for start in tqdm(range(0, len(trunk), TAIL_BATCH), desc="photo regions", disable=not progress):
        batch = trunk[start : start + TAIL_BATCH].to(model.device, torch.float32)
        out.append(regions_of(model.image_encoder.tail_map(batch, top)).cpu().to(torch.float16))
    return torch.cat(out)
