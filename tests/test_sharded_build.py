"""`torchrun ... -m embeddings build`: each rank embeds its share into a shard, rank 0
merges (embeddings/building/shards.py); two gloo processes against one."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from embeddings.building import shards
from embeddings.building.build import build_index
from embeddings.serving.manifest import EMBEDDINGS_FILE, LINES_FILE, RECIPES_FILE, CorruptIndexError
from pipeline import shard_files
from pipeline.world import World
from tiny import make_kaggle_folder, make_tiny_model_dir


class Killed(Exception):
    pass


def refuse(*args, **kwargs):
    raise AssertionError("this rank's shard was made already: it must not embed again")


def die(*args, **kwargs):
    raise Killed("killed before the merge")


def _one_rank(rank: int, size: int, rendezvous: str, model_dir, data, out, keeps_shard: bool, dies: bool) -> None:
    torch.set_num_threads(1)  # as the one-process build: the same kernels, the same bits
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        if keeps_shard and rank == 0:
            shards.embed_part = refuse
        if dies and rank == 0:
            shards.merge_shards = die
        build_index(model_dir, data, out, dtype="float32", progress=False, feature_cache=None, world=World(rank, size))
    finally:
        dist.destroy_process_group()


def sharded_build(tmp_path, run: str, model_dir, data, out, keeps_shard=False, dies=False) -> None:
    rendezvous = str(tmp_path / f"rendezvous-{run}")
    mp.spawn(_one_rank, args=(2, rendezvous, model_dir, data, out, keeps_shard, dies), nprocs=2, join=True)


def test_a_sharded_build_is_byte_identical_and_redoes_a_killed_shard_alone(tmp_path):
    # A model with a re-ranker: the index also stores its ingredient lines (rank 0 computes them).
    tiny_model_dir = make_tiny_model_dir(tmp_path / "model", rerank=3)
    data = make_kaggle_folder(tmp_path / "data", n=90, title_only=10)  # 3 photo batches, 2 of titles, 5 of recipes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        build_index(tiny_model_dir, data, tmp_path / "one", dtype="float32", progress=False, feature_cache=None)
    finally:
        torch.set_num_threads(threads)

    # Killed after both shards were written, before rank 0 merged them; then shard 1 lost.
    with pytest.raises(Exception, match="Killed"):
        sharded_build(tmp_path, "killed", tiny_model_dir, data, tmp_path / "two", dies=True)
    folder = shards.shards_dir(tmp_path / "two")
    assert len(list(folder.glob("shard-*-of-002.safetensors"))) == 2 and not (tmp_path / "two").exists()
    for path in shards.shard_paths(folder, 1, 2):
        path.unlink()
    # The rerun makes shard 1 again and keeps shard 0 (rank 0 would fail if it embedded).
    sharded_build(tmp_path, "rerun", tiny_model_dir, data, tmp_path / "two", keeps_shard=True)

    one, two = (load_file(str(tmp_path / name / EMBEDDINGS_FILE)) for name in ("one", "two"))
    for field in ("image", "title", "recipe"):
        assert one[field].numpy().tobytes() == two[field].numpy().tobytes(), f"{field} vectors differ"
    # Whole files, header included: built in other processes, they must still match byte for byte.
    for file in (EMBEDDINGS_FILE, LINES_FILE):
        one_bytes, two_bytes = ((tmp_path / name / file).read_bytes() for name in ("one", "two"))
        assert one_bytes == two_bytes, f"{file} differs"
    thumbs = [pq.read_table(tmp_path / name / RECIPES_FILE).column("thumbnail").to_pylist() for name in ("one", "two")]
    assert thumbs[0] == thumbs[1]
    assert not folder.exists(), "the shards are removed once merged"


def test_a_shard_of_another_job_or_altered_is_not_merged(tmp_path):
    stem = shard_files.shard_stem(tmp_path, "shard", 0, 1)
    shard_files.write_shard(stem, {"image": torch.zeros(2, 4)}, "job-a")
    assert shard_files.shard_is_done(stem, "job-a") and not shard_files.shard_is_done(stem, "job-b")
    path = stem.with_suffix(".safetensors")
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(CorruptIndexError, match="shard-000-of-001.safetensors: missing, altered"):
        shards.read_shard(tmp_path, 0, 1, "job-a")
