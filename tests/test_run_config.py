"""One run configuration: the two halves' defaults are the product default, presets are
data files of changes, and the command line is generated from the fields."""

import dataclasses

import pytest

from model import RetrieverConfig
from train.cli import build_parser
from train.flags import NOT_FLAGS, run_config
from train.options import TrainOptions
from train.run_config import PARTS, PRESET_DIR, RunConfig, field_docs, list_presets, load_preset, stack_presets


def parsed(*flags: str) -> RunConfig:
    parser = build_parser()
    return run_config(parser, parser.parse_args(["--data", "d", "--out", "o", *flags]))


def test_the_defaults_are_the_default_preset_and_every_preset_file_loads():
    assert RunConfig() == load_preset("default") == parsed()
    names = list_presets()
    assert set(names) == {p.stem for p in PRESET_DIR.glob("*.toml")}
    for name, about in names.items():
        assert about, f"{name}.toml says nothing about itself"
        assert load_preset(name).model.preset == name  # unknown fields would raise here
    expected = {"default", "quick", "seed", "clip", "lite2", "frozen-heads"}
    assert expected | {"im2recipe", "adamine", "ht-debias", "hf-icma"} <= set(names)


def test_presets_hold_what_they_say():
    assert load_preset("quick").train.views == 1 and load_preset("quick").model.recipe_encoder == "pooled"
    assert load_preset("clip").train.finetune_top == 0  # its ViT has no trunk/tail split
    assert load_preset("seed").model.image_mean == (0.485, 0.456, 0.406)  # TOML arrays become tuples
    # A stack: the later preset wins where both speak, the earlier stands where it alone does.
    stacked = stack_presets(["frozen-heads", "im2recipe"])
    assert (stacked.model.recipe_encoder, stacked.train.loss, stacked.train.views) == ("lstm", "cosine", 1)
    assert stacked.model.preset == "im2recipe"


def test_an_unknown_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="no field lr_typo"):
        RunConfig().with_overrides({"train": {"lr_typo": 1.0}})
    with pytest.raises(ValueError, match="unknown settings tables"):
        RunConfig().with_overrides({"optimizer": {"lr": 1.0}})
    with pytest.raises(ValueError, match="unknown preset"):
        load_preset("nope")


def test_every_field_is_documented_and_has_a_flag():
    help_text = " ".join(build_parser().format_help().split())
    for cls in PARTS.values():
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            if f.name in NOT_FLAGS:
                continue
            assert docs.get(f.name), f"{cls.__name__}.{f.name} has no documentation"
            assert f"--{f.name.replace('_', '-')}" in help_text
            assert docs[f.name][:40] in help_text  # the field's own words are its flag's help


def test_given_flags_override_the_preset_and_the_rest_stay_its():
    config = parsed("--preset", "adamine", "--lr", "3e-4", "--image-mean", "0.1", "0.2", "0.3", "--no-live")
    assert config.train.lr == 3e-4 and config.model.image_mean == (0.1, 0.2, 0.3)
    assert (config.train.loss, config.train.margin) == ("adamine", 0.3)  # the preset's, untouched
    assert config.train.epochs == TrainOptions().epochs
    assert parsed("--no-share-text-backbone").model.share_text_backbone is False
    assert parsed("--debias").model.debias is True


def test_the_loss_defaults_are_filled_in_and_bad_combinations_end_with_a_message(capsys):
    assert parsed("--loss", "cosine").train.mismatch_rate == 0.8
    for flags, said in (
        (("--margin", "0.2"), "apply to --loss adamine or cosine"),
        (("--debias", "--ingredient-weight", "0"), "debias needs the ingredient head"),
        (("--dish-classes", "10"), "--dish-classes applies to"),
        (("--rerank", "3", "--live"), "not with --live"),
    ):
        with pytest.raises(SystemExit):
            parsed(*flags)
        assert said in capsys.readouterr().err


def test_config_replaces_the_model_half_only(tmp_path):
    saved = tmp_path / "config.json"
    saved.write_text(RetrieverConfig(embed_dim=64, recipe_encoder="pooled").to_json())
    config = parsed("--preset", "quick", "--config", str(saved), "--embed-dim", "32")
    assert (config.model.embed_dim, config.model.image_size) == (32, 224)  # the file's, then the flag
    assert config.train.views == 1  # the preset's training half stands


def test_a_config_s_command_trains_it_again():
    import shlex

    from train.flags import command_for
    from train.run_config import checked

    variations = [
        load_preset("default"),
        load_preset("quick").with_overrides({"train": {"epochs": 3, "lr": 3e-5}, "model": {"debias": True}}),
        stack_presets(["frozen-heads", "im2recipe"]).with_overrides({"model": {"image_mean": (0.5, 0.5, 0.5)}}),
        *(load_preset(name) for name in list_presets()),
    ]
    for config in map(checked, variations):
        command = command_for(config, data="d", out="o")
        assert command.startswith("python -m train --data d --out o")
        assert parsed(*shlex.split(command)[3:][4:]) == config, command
    assert command_for(RunConfig(), data="d", out="o") == "python -m train --data d --out o"
    assert "--preset quick" in command_for(load_preset("quick"))


def test_a_saved_folder_gives_back_its_settings(tmp_path):
    import json

    model = dataclasses.replace(load_preset("quick").model, embed_dim=64)
    (tmp_path / "config.json").write_text(model.to_json())
    options = {**dataclasses.asdict(TrainOptions(views=2, lr=3e-4)), "debias": True}
    del options["rerank_epochs"]  # a model saved before the option existed
    (tmp_path / "metrics.json").write_text(json.dumps({"options": options}))
    from train.run_config import saved_run

    assert saved_run(tmp_path) == RunConfig(model=model, train=TrainOptions(views=2, lr=3e-4))


def test_settings_equal_to_a_preset_are_named_by_it():
    from train.flags import command_for
    from train.run_config import checked

    quick_named_default = dataclasses.replace(
        load_preset("quick"), model=dataclasses.replace(load_preset("quick").model, preset="default")
    )
    assert (
        command_for(checked(quick_named_default), data="d", out="o")
        == "python -m train --data d --out o --preset quick"
    )
