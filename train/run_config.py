"""One training run's settings in one typed object: the model's half (model.RetrieverConfig)
and the loop's half (train.options.TrainOptions), each field documented by the string under
it. Their defaults are the product default; a preset is a small TOML file in train/presets/
holding only what it changes (`[model]` and `[train]` tables, and an `about` line).

    load_preset("adamine").train.loss == "adamine"
    RunConfig() == load_preset("default")

`python -m train` builds one from --preset (or --config), then the flags given; the
experiment runner (benchmarks/experiment.py) from a variant's preset and overrides.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
import tomllib
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from model import RetrieverConfig

from .options import TrainOptions

PRESET_DIR = Path(__file__).with_name("presets")
# The two halves by the name a preset file's table and an override use for them.
PARTS: dict[str, type] = {"model": RetrieverConfig, "train": TrainOptions}


@dataclass(frozen=True)
class RunConfig:
    model: RetrieverConfig = field(default_factory=RetrieverConfig)
    train: TrainOptions = field(default_factory=TrainOptions)

    def with_overrides(self, overrides: dict[str, dict]) -> "RunConfig":
        """A copy with {"model": {field: value}, "train": {...}} applied; an unknown part or
        field is refused by name (a typo never trains the default silently)."""
        unknown = sorted(set(overrides) - set(PARTS))
        if unknown:
            raise ValueError(f"unknown settings tables {unknown}; a run has {sorted(PARTS)}")
        changed = {}
        for part, values in overrides.items():
            cls = PARTS[part]
            names = {f.name for f in dataclasses.fields(cls)}
            wrong = sorted(set(values) - names)
            if wrong:
                raise ValueError(f"{part} settings have no field {', '.join(wrong)}")
            changed[part] = dataclasses.replace(
                getattr(self, part), **{k: _typed(cls, k, v) for k, v in values.items()}
            )
        return dataclasses.replace(self, **changed)

    def as_dict(self) -> dict:
        return {part: dataclasses.asdict(getattr(self, part)) for part in PARTS}


def _typed(cls: type, name: str, value):
    """TOML and JSON have arrays, not tuples: a tuple field gets a tuple."""
    if isinstance(value, list) and typing.get_origin(typing.get_type_hints(cls)[name]) is tuple:
        return tuple(value)
    return value


@cache
def _preset_file(name: str) -> dict:
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(list_presets())}")
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def list_presets() -> dict[str, str]:
    """Every preset's name and its `about` line: the files of train/presets/."""
    return {path.stem: _preset_file(path.stem).get("about", "") for path in sorted(PRESET_DIR.glob("*.toml"))}


def load_preset(name: str) -> RunConfig:
    """The product default with the preset's changes; its model settings name it."""
    return stack_presets([name])


def stack_presets(names: list[str], base: RunConfig | None = None) -> RunConfig:
    """`base` (the product default) with each preset's changes applied in order, later ones
    winning: ["frozen-heads", "im2recipe"] is im2recipe's design at the benchmarks' cheap
    tier. The model settings name the last preset."""
    config = base or RunConfig()
    for name in names:
        config = config.with_overrides({part: v for part, v in _preset_file(name).items() if part in PARTS})
    if names:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, preset=names[-1]))
    return config


def saved_run(model_dir: str | Path) -> RunConfig:
    """The settings a saved model folder was trained with: config.json's model half and
    metrics.json's options. An option added since takes its default; one since moved or
    removed (debias, now a model setting) is left out."""
    folder = Path(model_dir)
    model = RetrieverConfig.from_json((folder / "config.json").read_text())
    options = json.loads((folder / "metrics.json").read_text())["options"]
    known = {f.name for f in dataclasses.fields(TrainOptions)}
    return RunConfig(model=model).with_overrides({"train": {k: v for k, v in options.items() if k in known}})


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Each dataclass field's documentation: the string literal right under it (attribute
    docstrings), on one line. Read from the source, so a field documented once is
    documented everywhere (the class, --help)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs


def checked(config: RunConfig) -> RunConfig:
    """The loss's defaults filled in (margin, semantic weight, mismatch rate), or ValueError
    naming the setting a combination cannot train with (by its flag: the field's name with
    dashes, as a variant file's readers know it too)."""
    options = config.train
    objective = options.objective()  # raises for a setting the loss does not read
    if options.rerank_epochs < 1:
        raise ValueError(f"--rerank-epochs must be at least 1, got {options.rerank_epochs}")
    if options.dish_classes < 1:
        raise ValueError(f"--dish-classes must be at least 1, got {options.dish_classes}")
    if config.model.rerank and options.live:
        raise ValueError("--rerank trains on cached photo regions and line features, not with --live")
    if config.model.debias and not options.ingredient_weight:
        raise ValueError("--debias needs the ingredient head: --ingredient-weight above 0")
    filled = {k: getattr(objective, k) for k in ("loss", "margin", "semantic_weight", "mismatch_rate")}
    return dataclasses.replace(config, train=dataclasses.replace(options, **filled))
