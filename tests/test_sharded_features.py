"""The feature cache under torchrun (pipeline/features.py): each rank extracts its
batches into a shard, rank 0 merges the entry; two gloo processes against one."""

from __future__ import annotations

import torch
from ranks import one_then_two_ranks
from safetensors.torch import load_file

from model import Retriever
from pipeline.features import FeatureCache, assemble
from pipeline.read import load_recipes
from pipeline.world import World
from tiny import make_kaggle_folder, tiny_config

FP32 = {"image": "fp32", "text": "fp32"}


def fill(cache, text_dir, data, world: World) -> None:
    """What training asks of the cache: text features, and photos with augmented views of half the rows."""
    torch.manual_seed(0)  # the tiny photo backbone is random: the same one in every process
    model = Retriever(tiny_config(text_dir)).eval()
    recipes = load_recipes(data, progress=False)
    # The engine at fp32 for both backbones, whose bits one process and two ranks share.
    # At int8 (the text default) they differed in the last bits in a CI run (likely the
    # ranks' thread counts: the quantised kernels' float sums), within the cosine >= 0.95
    # that tests/test_engine.py checks.
    features = FeatureCache(cache, recipes, progress=False, world=world, precision=FP32)
    features.text(model)
    features.photos(model, views=3, top=1, augmented={r.id for r in recipes[: len(recipes) // 2]})


def test_two_ranks_fill_the_cache_entries_one_process_fills(tmp_path, text_backbone_dir):
    # 150 rows: 3 batches of 64 plain views, augmented views in 3 more, titles in 1, recipes in 2.
    data = make_kaggle_folder(tmp_path / "data", n=150, title_only=20)
    one_then_two_ranks(tmp_path, fill, text_backbone_dir, data)

    entries = sorted(path.name for path in (tmp_path / "one").glob("*.safetensors"))
    assert len(entries) == 2 and entries_in(tmp_path / "two") == entries, "shards removed"
    for name in entries:
        one, two = load_file(str(tmp_path / "one" / name)), load_file(str(tmp_path / "two" / name))
        assert one.keys() == two.keys(), name
        for key in one:
            assert one[key].numpy().tobytes() == two[key].numpy().tobytes(), f"{name}: {key} differs"


def test_assembly_lays_each_shards_rows_where_they_belong():
    shards = [
        {"x": torch.tensor([[1.0], [2.0]]), "rows": torch.tensor([0, 1])},
        {"x": torch.tensor([[3.0]]), "rows": torch.tensor([2])},
    ]
    assert assemble(shards, {"x": "rows"})["x"].flatten().tolist() == [1.0, 2.0, 3.0]
    whole = [
        {"t": torch.tensor([5.0, 0.0]), "t_rows": torch.tensor([0])},
        {"t": torch.tensor([0.0, 7.0]), "t_rows": torch.tensor([1])},
    ]
    assert assemble(whole, {"t": "t_rows"})["t"].tolist() == [5.0, 7.0]


def fill_regions(cache, text_dir, data, world: World) -> None:
    """The re-ranker's photo regions entry (pipeline/regions.py)."""
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_dir, rerank=3)).eval()
    FeatureCache(cache, load_recipes(data, progress=False), progress=False, world=world).regions(model)


def test_two_ranks_fill_the_regions_entry_one_process_fills(tmp_path, text_backbone_dir):
    data = make_kaggle_folder(tmp_path / "data", n=150, title_only=20)  # 3 batches of 64 photos
    one_then_two_ranks(tmp_path, fill_regions, text_backbone_dir, data)
    (entry,) = [path.name for path in (tmp_path / "one").glob("regions-*.safetensors")]
    assert entries_in(tmp_path / "two") == [entry], "shards removed"
    one, two = load_file(str(tmp_path / "one" / entry)), load_file(str(tmp_path / "two" / entry))
    assert one["regions"].shape[0] == 148  # a missing photo and a truncated one are skipped
    assert one["regions"].numpy().tobytes() == two["regions"].numpy().tobytes()


def entries_in(folder) -> list[str]:
    """The cache's entries and anything else left there, but its engine folder (the
    exported backbone graphs, model/engine.py)."""
    return sorted(p.name for p in folder.iterdir() if p.name != "engine")
