"""The flags of `python -m train` (train/cli.py runs them). Two kinds:

- where a run reads and writes and how it reports (--data, --out, --cache-dir, ...),
  written here by hand: they never change what is trained;
- every setting of the run configuration, generated from the fields of RetrieverConfig
  (model) and TrainOptions (train): `--image-size` is `model.image_size`, its help the
  field's documentation. Given flags override the preset's values; the rest stay the
  preset's. No flag holds a second copy of a default.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import typing
from pathlib import Path

from model import RECIPE_ENCODERS, RetrieverConfig
from pipeline.features import DEFAULT_CACHE

from .objectives import LOSSES
from .run_config import PARTS, RunConfig, checked, field_docs, list_presets, load_preset

# Fields that are not settings a person chooses: the name of the preset a config came from.
NOT_FLAGS = {"preset"}
CHOICES = {"recipe_encoder": RECIPE_ENCODERS, "loss": LOSSES}
METAVARS = {int: "N", float: "X", str: "TEXT"}


def make_parser(description: str) -> argparse.ArgumentParser:
    """Every flag of `python -m train`, in the order --help lists them."""
    p = argparse.ArgumentParser(
        prog="python -m train", description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    _place_flags(p)
    defaults = RunConfig()
    for part, cls in PARTS.items():
        group = p.add_argument_group(
            f"{part} settings ({cls.__module__}.{cls.__name__})",
            "each overrides the preset's value; the default shown is the product default's",
        )
        _setting_flags(group, part, cls, getattr(defaults, part))
    return p


def _place_flags(p: argparse.ArgumentParser) -> None:
    """The collection, where the model goes, what it starts from, and how the run goes."""
    p.add_argument(
        "--data",
        required=True,
        help="a Kaggle-layout folder, an imagefolder with metadata.jsonl/csv, or a datasets Hub id",
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="model folder to write (config.json, model.safetensors, tokenizers, metrics.json, curves.png)",
    )
    presets = "; ".join(f"{name} = {about}" for name, about in list_presets().items())
    p.add_argument(
        "--preset",
        default="default",
        choices=sorted(list_presets()),
        help=f"the settings to start from (train/presets/*.toml): {presets}".replace("%", "%%"),
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a model's config.json whose model settings replace the preset's (any backbones, sizes)",
    )
    p.add_argument("--device", default="auto", help="auto picks cuda, then mps, then cpu")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where frozen backbone features are cached")
    p.add_argument("--no-cache", action="store_true", help="extract features without reading or writing the cache")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable rows (smoke runs)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --out/checkpoint.pt to the result an uninterrupted run gives",
    )
    p.add_argument(
        "--stop-after", type=int, default=None, help="stop after this epoch, leaving a checkpoint (to test --resume)"
    )
    p.add_argument(
        "--push-to-hub",
        metavar="USER/NAME",
        default=None,
        help="after training, build the index and publish model + index to this Hub repo",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _setting_flags(group, part: str, cls: type, defaults) -> None:
    """One flag per field of `cls`, typed from its annotation; absent from the parsed
    arguments unless given (argparse.SUPPRESS), so the preset's value stands."""
    docs, hints = field_docs(cls), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in NOT_FLAGS:
            continue
        kind, default = hints[f.name], getattr(defaults, f.name)
        shown = "unset" if default is None else default
        kwargs = {
            "dest": f"{part}.{f.name}",
            "default": argparse.SUPPRESS,
            "help": f"{docs.get(f.name, '')} (default: {shown})".replace("%", "%%"),
        }
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is tuple:
            items = typing.get_args(kind)
            kwargs.update(nargs=len(items), type=items[0], metavar=f.name.split("_")[-1].upper())
        else:
            # `float | None`: a value given on the command line is never None.
            kwargs["type"] = next(t for t in (typing.get_args(kind) or (kind,)) if t is not type(None))
            kwargs["metavar"] = METAVARS[kwargs["type"]]
        if f.name in CHOICES:
            kwargs["choices"] = CHOICES[f.name]
        group.add_argument(f"--{f.name.replace('_', '-')}", **kwargs)


def given_settings(args: argparse.Namespace) -> dict[str, dict]:
    """The settings flags given on the command line, as {"model": {...}, "train": {...}}."""
    overrides: dict[str, dict] = {part: {} for part in PARTS}
    for dest, value in vars(args).items():
        part, _, name = dest.partition(".")
        if name:
            overrides[part][name] = value
    return overrides


def run_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """The run the flags ask for: the preset (its model half from --config when given),
    then the given flags; a bad value or combination ends the run with argparse's message
    before any data is read."""
    overrides = given_settings(args)
    try:
        config = load_preset(args.preset)
        if args.config:
            config = dataclasses.replace(config, model=RetrieverConfig.from_json(args.config.read_text()))
        config = checked(config.with_overrides(overrides))
    except (ValueError, OSError) as err:
        parser.error(str(err))
    if "dish_classes" in overrides["train"] and not config.train.objective().needs_dish_classes:
        parser.error("--dish-classes applies to --loss adamine or cosine with a semantic weight above 0")
    return config


def command_for(config: RunConfig, data: str = "DATA", out: str = "DIR") -> str:
    """The `python -m train` command that trains `config` again: the preset its model
    settings name, then one flag per setting that differs from that preset's. What a
    figure says of the model it measured, instead of the folder it sat in. A setting no
    flag can give (unset where the preset sets it) is named after a `#`."""
    preset = config.model.preset if config.model.preset in list_presets() else "default"
    for name in list_presets():  # settings equal to a preset's are that preset, whatever they are named
        if _unnamed(checked(load_preset(name))) == _unnamed(config):
            preset = name
    base = checked(load_preset(preset))
    words = ["--data", data, "--out", out, *(["--preset", preset] if preset != "default" else [])]
    unset = []
    for part in PARTS:
        mine, theirs = getattr(config, part), getattr(base, part)
        for f in dataclasses.fields(mine):
            value = getattr(mine, f.name)
            if f.name in NOT_FLAGS or value == getattr(theirs, f.name):
                continue
            flag = f"--{f.name.replace('_', '-')}"
            if value is None:
                unset.append(flag)
            elif isinstance(value, bool):
                words.append(flag if value else f"--no-{flag[2:]}")
            else:
                words += [flag, *map(str, value if isinstance(value, tuple) else (value,))]
    return f"python -m train {shlex.join(words)}" + (f"  # unset: {' '.join(unset)}" if unset else "")


def _unnamed(config: RunConfig) -> RunConfig:
    return dataclasses.replace(config, model=dataclasses.replace(config.model, preset=""))
