"""Peak resident memory of reading the second probe's photo bombs the way the app does
(issue 25): ui.inputs.read_photo (decoding budgeted from the header, ui/decoding.py), then
the model's own preprocessing (model.preprocess.to_rgb and the resize + crop), each in a
fresh process whose resident high-water mark is reset (/proc/self/clear_refs) after a
warm-up photo, so a figure is what that photo added over the idle process.

    python benchmarks/bench_photo_memory.py                 # -> benchmarks/results/photo_memory.json
    python benchmarks/bench_photo_memory.py --root DIR      # the same, with the app code of another checkout
    python benchmarks/bench_photo_memory.py --index DIR     # also: the served app (python app.py) as it answers them

Photos: the probe's thin 150000x16 and tall 16x150000 PNGs, a 49-megapixel PNG (7000x7000),
a 1x50,000,000 PNG, and for scale the largest photos still searched: a 16-megapixel RGB PNG
and a 48-megapixel JPEG (decoded at 1/8 scale). "two at once" reads them in pairs on two
threads, as two searches run at once (ui/layout.MODEL_CONCURRENCY). --index: the app
serves DIR as `python app.py` does and gradio_client sends each photo; the server's peak
over its idle resident memory is read from /proc.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOMBS = ("thin_150000x16", "tall_16x150000", "png_49mp", "line_1x50mp")
LARGEST_SEARCHED = ("png_16mp_rgb", "jpeg_48mp")
TARGET_MB = 300  # issue 25: the peak within this of the idle figure


def make_photos(folder: Path, names=(*BOMBS, *LARGEST_SEARCHED)) -> dict[str, Path]:
    """The probe's bombs and the largest photos still searched (those `names`), written to `folder`."""
    import numpy as np
    from PIL import Image

    stripe = np.tile(np.arange(256, dtype=np.uint8), 150_000 // 256 + 1)[:150_000]
    ramp = np.linspace(0, 255, 8000, dtype=np.uint8)
    makers = {
        "thin_150000x16": lambda: (Image.fromarray(np.tile(stripe, (16, 1))), "PNG"),
        "tall_16x150000": lambda: (Image.fromarray(np.tile(stripe[:, None], (1, 16))), "PNG"),
        "png_49mp": lambda: (Image.new("L", (7000, 7000), 128), "PNG"),
        "line_1x50mp": lambda: (Image.new("L", (50_000_000, 1), 128), "PNG"),
        "png_16mp_rgb": lambda: (Image.fromarray(np.stack([np.tile(ramp[:4000], (4000, 1))] * 3, axis=-1)), "PNG"),
        "jpeg_48mp": lambda: (Image.fromarray(np.stack([np.tile(ramp, (6000, 1))] * 3, axis=-1)), "JPEG"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in names:
        image, fmt = makers[name]()
        made[name] = folder / f"{name}.{fmt.lower()}"
        image.save(made[name], fmt)
    return made


# --- in the measured process ------------------------------------------------------------------
def _memory_kb() -> tuple[int, int]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def _reset_peak() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now
    return _memory_kb()[0]


def read_as_the_app(path: Path, folder: Path) -> str:
    """One photo through the app's reader and the model's preprocessing: "searched" or the refusal."""
    import gradio as gr

    from model.config import RetrieverConfig
    from model.preprocess import image_transform, to_rgb
    from ui.inputs import read_photo

    try:
        image = read_photo(str(path), [folder])
        image_transform(RetrieverConfig())(to_rgb(image))
        return "searched"
    except gr.Error as refusal:
        return f"refused: {refusal.message}"


def measure(folder: Path, names: list[str], pairs: bool = False) -> dict:
    """Each named photo in `folder` (or, with `pairs`, all of them two at a time) -> MB over idle."""
    folder = Path(folder)
    paths = {name: next(folder.glob(f"{name}.*")) for name in names}
    from PIL import Image

    Image.new("RGB", (640, 480), "orange").save(folder / "warm-up.png")
    read_as_the_app(folder / "warm-up.png", folder)  # imports and lazy loads, before the idle figure
    out = {}
    if pairs:
        idle = _reset_peak()
        began = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda name: read_as_the_app(paths[name], folder), names))
        out[f"two at once: {', '.join(names)}"] = {
            "peak_over_idle_mb": round((_memory_kb()[1] - idle) / 1024, 1),
            "seconds": round(time.perf_counter() - began, 2),
            "outcomes": dict(zip(names, outcomes)),
        }
        return out
    for name in names:
        idle = _reset_peak()
        began = time.perf_counter()
        outcome = read_as_the_app(paths[name], folder)
        out[name] = {
            "peak_over_idle_mb": round((_memory_kb()[1] - idle) / 1024, 1),
            "seconds": round(time.perf_counter() - began, 2),
            "outcome": outcome,
        }
    return out


def in_child(folder: Path, names: list[str], root: Path = ROOT, pairs: bool = False) -> dict:
    """measure() in a fresh Python process importing the app code under `root`."""
    # This file is loaded by its path: the other checkout may not have it.
    code = (
        f"import importlib.util, json, sys; sys.path.insert(0, {str(root)!r})\n"
        f"spec = importlib.util.spec_from_file_location('photo_memory', {__file__!r})\n"
        "bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)\n"
        f"print(json.dumps(bench.measure({str(folder)!r}, {names!r}, {pairs!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=600)
    if done.returncode:
        raise SystemExit(f"the measuring process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the served app ---------------------------------------------------------------------------
def served_figures(index: str, photos: dict[str, Path], log: Path) -> dict:
    """`python app.py --index DIR` as a child; each photo sent with gradio_client; the server's peak over idle."""
    from gradio_client import Client, handle_file

    from benchmarks.serving import process_memory_mb, served_app

    port = 7900 + int(time.time()) % 50
    with served_app(port, log, index=index) as (server, _, _):
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)
        client.predict("soup", 3, api_name="/title_to_recipe")  # warm
        out = {}
        for name, path in photos.items():
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
            idle = process_memory_mb(server.pid)["rss_mb"]
            try:
                client.predict(handle_file(str(path)), 3, api_name="/photo_to_recipe")
                outcome = "searched"
            except Exception as error:  # the app's refusal, as gradio_client raises it
                outcome = f"refused: {str(error)[:120]}"
            out[name] = {"peak_over_idle_mb": round(process_memory_mb(server.pid)["peak_rss_mb"] - idle, 1)}
            out[name]["outcome"] = outcome
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app code reads the photos")
    p.add_argument("--index", help="also serve this index (python app.py) and send the photos to it")
    p.add_argument("--out", default="photo_memory", help="name of the results file under benchmarks/results/")
    args = p.parse_args()
    from benchmarks.common import write_result

    with tempfile.TemporaryDirectory(prefix="photo-memory-") as work:
        folder = Path(work)
        photos = make_photos(folder)
        sizes = {name: path.stat().st_size for name, path in photos.items()}
        figures = {name: in_child(folder, [name], args.root)[name] for name in (*BOMBS, *LARGEST_SEARCHED)}
        figures.update(in_child(folder, list(BOMBS), args.root, pairs=True))
        figures.update(in_child(folder, list(LARGEST_SEARCHED), args.root, pairs=True))
        for name, row in figures.items():
            row["file_bytes"] = sizes.get(name)
            outcome = row.get("outcome") or "; ".join(f"{k}: {v}" for k, v in row["outcomes"].items())
            print(f"{name:>16}: +{row['peak_over_idle_mb']:7.1f} MB, {row['seconds']:5.2f} s  {outcome[:150]}")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.root, capture_output=True, text=True)
        payload = {"root": str(args.root), "root_commit": commit.stdout.strip(), "reader": figures}
        worst = max(row["peak_over_idle_mb"] for row in figures.values())
        payload["worst_peak_over_idle_mb"], payload["target_mb"] = worst, TARGET_MB
        if args.index:
            payload["served"] = served_figures(args.index, photos, Path(work) / "app.log")
            for name, row in payload["served"].items():
                print(f"served {name:>16}: +{row['peak_over_idle_mb']:7.1f} MB  {row['outcome']}")
    print(f"worst peak over idle: {worst} MB (target: within {TARGET_MB} MB)")
    write_result(args.out, payload)


if __name__ == "__main__":
    main()
