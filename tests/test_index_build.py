"""Building an index from a tiny random model and a generated collection."""

import dataclasses
import io
import os

import pytest
from PIL import Image

from embeddings import CorruptIndexError, load_index
from embeddings.building.build import build_index
from embeddings.serving.manifest import MANIFEST_FILE
from model import FeatureRecord, load_pretrained
from pipeline.read import KAGGLE_CSV
from tiny import make_kaggle_folder, make_tiny_model_dir


def counting_model(model_dir):
    """A loaded model whose encode_* calls count the rows they embed."""
    model = load_pretrained(model_dir)
    model.rows_encoded = {"image": 0, "title": 0, "recipe": 0}
    for method, field in (("encode_image", "image"), ("encode_title", "title"), ("encode_recipe", "recipe")):
        original = getattr(model, method)

        def counted(*args, _original=original, _field=field, **kwargs):
            out = _original(*args, **kwargs)
            model.rows_encoded[_field] += out.shape[0]
            return out

        setattr(model, method, counted)
    return model


def test_build_then_reload(tiny_model_dir, kaggle_folder, tmp_path):
    report = build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False)
    assert report.count == 22 and report.encoded == {
        "image": 22,
        "title": 22,
        "recipe": 18,
    }  # 2 bad photos, 4 title-only
    index = load_index(tmp_path / "index", model=load_pretrained(tiny_model_dir))
    manifest = index.manifest
    assert (manifest["count"], manifest["dim"], manifest["dtype"], manifest["normalized"]) == (22, 16, "float16", True)
    assert manifest["model"]["source"] == str(tiny_model_dir.resolve()) and manifest["model"]["revision"] is None
    # The served backbone passes as engine graphs (embeddings/serving/engine_graphs.py), checksummed too.
    graphs = {"engine/image-pooled.onnx", "engine/text-title.onnx"}
    assert set(manifest["files"]) == {"embeddings.safetensors", "recipes.parquet", *graphs}
    assert {g["file"] for g in manifest["engine"]["graphs"].values()} == graphs
    assert index.recipes["has_recipe"].tolist() == [False] * 4 + [True] * 18
    assert max(index.thumbnail(5).size) <= 256 and index.thumbnail(5).mode == "RGB"
    umask = os.umask(0)
    os.umask(umask)
    for path in [tmp_path / "index", *(tmp_path / "index").iterdir()]:  # as mkdir/open make them, not 0700/0600
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~umask, path
    query = index.vectors("image")[7].float().numpy()
    assert index.search(query, "image", 1)[0].score == pytest.approx(1.0, abs=1e-2)


def test_rebuild_after_adding_rows_embeds_only_new_and_changed_rows(tiny_model_dir, tmp_path):
    data = make_kaggle_folder(tmp_path / "collection", n=24)
    build_index(tiny_model_dir, data, tmp_path / "index", progress=False)
    first = load_index(tmp_path / "index")
    make_kaggle_folder(tmp_path / "collection", n=30)  # same first rows; rows 22..27 now usable
    csv = tmp_path / "collection" / KAGGLE_CSV
    csv.write_text(csv.read_text().replace(first.recipes["title"].iat[5], "a renamed dish", 1))

    model = counting_model(tiny_model_dir)
    report = build_index(tiny_model_dir, data, tmp_path / "index", model=model, progress=False)
    assert model.rows_encoded == {"image": 7, "title": 7, "recipe": 7}  # 6 new rows + 1 edited
    assert report.reused == 21 and report.count == 28
    second = load_index(tmp_path / "index")
    for row in (0, 10, 21):  # unchanged rows keep their vectors
        assert second.recipes["id"].iat[row] == first.recipes["id"].iat[row]
        assert (second.vectors("recipe")[row] == first.vectors("recipe")[row]).all()

    again = counting_model(tiny_model_dir)
    build_index(tiny_model_dir, data, tmp_path / "index", model=again, progress=False)
    assert again.rows_encoded == {"image": 0, "title": 0, "recipe": 0}


def test_another_model_re_embeds_everything(tiny_model_dir, kaggle_folder, tmp_path):
    build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False)
    other_dir = make_tiny_model_dir(tmp_path / "other", seed=1)
    other = counting_model(other_dir)
    report = build_index(other_dir, kaggle_folder, tmp_path / "index", model=other, progress=False)
    assert report.reused == 0 and other.rows_encoded["image"] == 22


def test_searching_with_another_model_is_refused(tiny_model_dir, kaggle_folder, tmp_path):
    build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False)
    other = load_pretrained(make_tiny_model_dir(tmp_path / "other", seed=1))
    with pytest.raises(CorruptIndexError, match="model mismatch.*built with model"):
        load_index(tmp_path / "index", model=other)
    other.config = dataclasses.replace(other.config, embed_dim=32)
    with pytest.raises(CorruptIndexError, match="32 dimensions.*16-d"):
        load_index(tmp_path / "index").check_model(other)


def test_a_run_killed_while_writing_leaves_the_old_index(tiny_model_dir, kaggle_folder, tmp_path, monkeypatch):
    import embeddings.building.build as build

    target = tmp_path / "index"
    build_index(tiny_model_dir, kaggle_folder, target, progress=False)
    before = (target / MANIFEST_FILE).read_text()

    def dies_halfway(directory, *args):
        (directory / "embeddings.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "write_index_files", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_model_dir, kaggle_folder, target, dtype="float32", progress=False)
    assert (target / MANIFEST_FILE).read_text() == before
    assert load_index(target).count == 22
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_leftovers_of_a_killed_process_are_removed(tiny_model_dir, kaggle_folder, tmp_path):
    leftover = tmp_path / ".index.tmp-999999999-abc"  # no such process
    leftover.mkdir()
    build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False)
    assert not leftover.exists()


def test_bad_inputs_are_named(tiny_model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a Kaggle-layout folder"):
        build_index(tiny_model_dir, tmp_path, tmp_path / "index", progress=False)
    with pytest.raises(ValueError, match="dtype"):
        build_index(tiny_model_dir, tmp_path, tmp_path / "index", dtype="int8", progress=False)


def test_thumbnails_are_small_jpegs(tmp_path):
    from embeddings.building.thumbnails import make_thumbnail
    from pipeline.records import Recipe

    big = tmp_path / "big.png"
    Image.new("RGBA", (1200, 800), (10, 200, 30, 128)).save(big)
    data = make_thumbnail(Recipe(id="x", title="t", image_path=str(big)))
    assert data[:3] == b"\xff\xd8\xff"  # JPEG
    with Image.open(io.BytesIO(data)) as thumb:
        assert max(thumb.size) <= 256 and thumb.mode == "RGB"


def test_frozen_backbone_models_reuse_trains_feature_cache(tiny_model_dir, kaggle_folder, tmp_path):
    from model import save_pretrained

    frozen = load_pretrained(tiny_model_dir)
    frozen.fitted.features = FeatureRecord(finetune_top=0, views=1)  # as `python -m train --finetune-top 0` records
    save_pretrained(frozen, tmp_path / "frozen")
    live = build_index(tmp_path / "frozen", kaggle_folder, tmp_path / "live", feature_cache=None, progress=False)
    assert live.encoded["image"] == 22
    build_index(
        tmp_path / "frozen", kaggle_folder, tmp_path / "first", feature_cache=tmp_path / "cache", progress=False
    )
    assert list((tmp_path / "cache").glob("views-*.safetensors"))  # written on a miss, as train does

    model = counting_model(tmp_path / "frozen")
    calls = []
    model.image_encoder.forward_trunk = lambda *a: calls.append(a)  # must not run: the cache answers
    build_index(
        tmp_path / "frozen",
        kaggle_folder,
        tmp_path / "cached",
        model=model,
        feature_cache=tmp_path / "cache",
        progress=False,
    )
    assert calls == [] and model.rows_encoded == {"image": 0, "title": 0, "recipe": 0}
    a, b = load_index(tmp_path / "live"), load_index(tmp_path / "cached")
    for field in ("image", "title", "recipe"):
        assert (a.vectors(field).float() - b.vectors(field).float()).abs().max() < 2e-3


def test_photo_tail_finetuned_models_reuse_cached_trunk_activations(tiny_model_dir, kaggle_folder, tmp_path):
    from model import save_pretrained

    tuned = load_pretrained(tiny_model_dir)
    tuned.fitted.features = FeatureRecord(finetune_top=2, views=3)
    save_pretrained(tuned, tmp_path / "tuned")
    live = build_index(tmp_path / "tuned", kaggle_folder, tmp_path / "live", feature_cache=None, progress=False)
    assert live.encoded["image"] == 22
    build_index(tmp_path / "tuned", kaggle_folder, tmp_path / "first", feature_cache=tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache").glob("views-*.safetensors"))

    model = load_pretrained(tmp_path / "tuned")
    calls = []
    model.image_encoder.forward_trunk = lambda *a: calls.append(a)  # must not run: the cache holds the trunk
    build_index(
        tmp_path / "tuned",
        kaggle_folder,
        tmp_path / "cached",
        model=model,
        feature_cache=tmp_path / "cache",
        progress=False,
    )
    assert calls == []
    a, b = load_index(tmp_path / "live"), load_index(tmp_path / "cached")
    for field in ("image", "title", "recipe"):  # float16 trunk activations: close, not equal
        assert (a.vectors(field).float() - b.vectors(field).float()).abs().max() < 2e-2, field
