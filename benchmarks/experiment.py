"""The one experiment runner: a variant file (benchmarks/variants/*.toml) lists variants of
the run configuration, the seeds and split draws to run each on and which figures to keep;
every run is `python -m train`'s own stages (train.cli.train: prepare, fit, select on val,
save) and appends one JSON line to benchmarks/results/experiments.jsonl: the variant, its
full settings, the commit, machine and load, and its figures (val, chosen on; test, reported).

    python -m benchmarks.experiment benchmarks/variants/ablations.toml [--only NAME ...]
        [--data ../shared/data/epicurious] [--seeds 0 1 2] [--splits 8] [--set train.epochs=2]
        [--config tiny-config.json] [--limit N] [--work DIR] [--log FILE] [--keep] [--again]

A variant file:

    about = "what the table compares"
    presets = ["frozen-heads"]        # applied in order over the product default
    seeds = [0]                       # each variant trains once per seed...
    splits = [0]                      # ...and per split draw (0: the product's split)
    figures = ["rerank"]              # kept beside the retrieval figures: metrics.json keys, or "confidence"
    [variants.default]                # no changes
    [variants.lr_3e-4]
    train = { lr = 3e-4 }             # a variant's own presets = [...] replaces the file's

A run whose settings, data and split are already in the log is skipped (--again reruns it):
an interrupted file goes on where it stopped. benchmarks/report.py makes RESULTS.md's tables
from the log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tomllib
from pathlib import Path

from tqdm import tqdm

from benchmarks.common import RESULTS, ROOT, command_line, load_average, machine
from model import RetrieverConfig
from pipeline.features import DEFAULT_CACHE
from pipeline.world import World
from train.cli import pick_device, train
from train.prepare import RunPlace
from train.run_config import RunConfig, checked, stack_presets

LOG = RESULTS / "experiments.jsonl"


def parse_set(items: list[str]) -> dict[str, dict]:
    """--set part.field=value (a TOML value: 3e-4, true, "lstm") -> {"train": {"lr": 3e-4}}."""
    overrides: dict[str, dict] = {}
    for item in items:
        name, sep, value = item.partition("=")
        part, dot, field = name.partition(".")
        if not (sep and dot and field):
            raise SystemExit(f"--set takes part.field=value (e.g. train.epochs=2), got {item!r}")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value  # a bare word: a string
        overrides.setdefault(part, {})[field] = parsed
    return overrides


def variant_configs(spec: dict, only: list[str], forced: dict, model_file: Path | None) -> dict[str, RunConfig]:
    """Each variant's settings: its presets, its own overrides, then --set;
    with --config, the model half of that config.json (tiny test models) under them."""
    configs = {}
    base = RunConfig() if model_file is None else RunConfig(model=RetrieverConfig.from_json(model_file.read_text()))
    for name, variant in spec.get("variants", {}).items():
        if only and name not in only:
            continue
        config = stack_presets(variant.get("presets", spec.get("presets", [])), base)
        own = {part: variant[part] for part in ("model", "train") if part in variant}
        try:
            configs[name] = config.with_overrides(own).with_overrides(forced)
        except ValueError as err:
            raise SystemExit(f"variant {name!r}: {err}") from err
    unknown = sorted(set(only) - set(spec.get("variants", {})))
    if unknown:
        raise SystemExit(f"no variant named {unknown}; the file has {sorted(spec.get('variants', {}))}")
    return configs


def run_key(config: RunConfig, data: str, limit: int | None, split: int) -> str:
    """What makes two runs the same run: settings (seed included), rows and split draw."""
    text = json.dumps({"config": config.as_dict(), "data": data, "limit": limit, "split": split}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_log(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def append_line(log: Path, line: dict) -> None:
    """The log rewritten whole under a temporary name, then renamed: a killed run never
    leaves half a line."""
    from model.atomic import atomic_write_bytes

    old = log.read_bytes() if log.is_file() else b""
    atomic_write_bytes(log, old + (json.dumps(line, sort_keys=True) + "\n").encode())


def figures_of(out: Path, extra: list[str]) -> dict:
    """The figures a run's model folder holds: val (best epoch, recipe vector chosen), test
    without and with query expansion, the epoch and seconds, and the file's extras."""
    metrics = json.loads((out / "metrics.json").read_text())
    figures = {
        "val": metrics["val"],
        "val_score": metrics["best_val_score"],
        "best_epoch": metrics["best_epoch"],
        "recipe_vector": metrics["recipe_vector"],
        "seconds": {k: round(v, 1) for k, v in metrics["seconds"].items()},
        "test": json.loads((out / "eval_test_plain.json").read_text()),
        "test_expanded": json.loads((out / "eval_test.json").read_text()),
    }
    for name in extra:
        if name == "confidence":
            figures[name] = json.loads((out / "confidence_test.json").read_text())
        elif name in metrics:
            figures[name] = metrics[name]
        else:
            raise SystemExit(f"figure {name!r}: not in {out}/metrics.json ({sorted(metrics)}) nor 'confidence'")
    return figures


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.experiment", description=__doc__.split("\n\n")[0])
    p.add_argument("variants", type=Path, help="a variant file (benchmarks/variants/*.toml)")
    p.add_argument("--only", nargs="+", default=[], metavar="NAME", help="these variants only")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="instead of the file's seeds")
    p.add_argument("--splits", type=int, default=None, help="draws 0..K-1 instead of the file's splits")
    p.add_argument("--set", nargs="+", default=[], metavar="PART.FIELD=VALUE", help="overrides of every variant")
    p.add_argument("--config", type=Path, default=None, help="a model config.json under every variant (tests)")
    p.add_argument("--limit", type=int, default=None, help="the first N usable rows only (smoke runs)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "experiments", help="model folders go here")
    p.add_argument("--log", type=Path, default=LOG, help="the JSON-lines log to append to")
    p.add_argument("--keep", action="store_true", help="keep each run's model folder (default: removed once scored)")
    p.add_argument("--again", action="store_true", help="rerun runs the log already holds")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars inside each run")
    return p


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    with open(args.variants, "rb") as handle:
        spec = tomllib.load(handle)
    experiment = args.variants.stem
    configs = variant_configs(spec, args.only, parse_set(args.set), args.config)
    seeds = args.seeds or spec.get("seeds", [0])
    splits = list(range(args.splits)) if args.splits else spec.get("splits", [0])
    done = {line.get("key") for line in read_log(args.log)}
    runs = [(name, seed, split) for name in configs for seed in seeds for split in splits]
    device = pick_device(args.device)
    for name, seed, split in tqdm(runs, desc=f"{experiment} runs", unit="run"):
        try:
            config = checked(configs[name].with_overrides({"train": {"seed": seed}}))
        except ValueError as err:
            raise SystemExit(f"variant {name!r}: {err}") from err
        key = run_key(config, args.data, args.limit, split)
        if key in done and not args.again:
            tqdm.write(f"{name} seed {seed} split {split}: in {args.log.name} already (--again reruns it)")
            continue
        out = args.work / experiment / f"{name}-seed{seed}-split{split}".replace("/", "_")
        shutil.rmtree(out, ignore_errors=True)  # a run killed midway starts afresh, never resumes another's
        place = RunPlace(args.data, out, args.cache_dir, args.limit, not args.quiet, split)
        started = load_average()
        train(config, place, World(), device)
        line = {
            "experiment": experiment,
            "variant": name,
            "seed": seed,
            "split": split,
            "presets": spec["variants"][name].get("presets", spec.get("presets", [])),
            "config": config.as_dict(),
            "data": args.data,
            "limit": args.limit,
            "key": key,
            "command": command_line(),
            **machine(),
            "load": {"start": started, "end": load_average()},
            "figures": figures_of(out, spec.get("figures", [])),
        }
        append_line(args.log, line)
        tqdm.write(f"{name} seed {seed} split {split}: val {line['figures']['val_score']:.4f}")
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(f"\n{len(runs)} runs of {args.variants} in {args.log}; tables: python -m benchmarks.report")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
