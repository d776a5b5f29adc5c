"""Recipe Finder: a photo, a dish name or a recipe in; matching recipes and photos out.

    python app.py                                   # artifacts/index and the model it names
    python app.py --index DIR --model DIR --port 7860
    python app.py --index user/recipe-index@<rev>   # a Hub repo at a pinned revision
    RECIPE_INDEX=... RECIPE_MODEL=... python app.py # the same, from the environment (Spaces)

The model and the index load once, before the server takes its first request. The
handlers are plain methods of ui.search.RecipeSearch; their API names are
/photo_to_recipe, /title_to_recipe, /recipe_to_photo, /similar_photos,
/cook_from_what_i_have and /more_like_this (ui/search.py's ENDPOINTS).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr

# Gradio, torch and the ui modules load inside the functions, to keep start-up fast where
# it fails: a missing index is reported in a second, not after the ten it takes to import them.


def build_demo(index, model, model_name: str | None = None, cache_root=None, better=None, progress=None) -> gr.Blocks:
    """A loaded RecipeIndex and Retriever -> the app, ready to launch(). Its thumbnails and
    example answers live in this index's folders under `cache_root` (ui/storage.py).
    `better`: an index folder that will hold a better model's index (a first `make demo`
    trains it in the background); the app switches to it once it is there, and shows the
    run's `progress` file meanwhile (ui/upgrade.py)."""
    from ui import layout, search, startup, storage, thumbnail_files, upgrade  # start-up (see above)

    search.configure_torch_for_serving()
    named = index.manifest.get("model") or {}
    name = model_name or startup.Source(str(named.get("source", "retriever")), named.get("revision")).display()
    folders = storage.app_folders(index, model, thumbnail_files.THUMBNAIL_FORMAT, cache_root)
    serving = search.RecipeSearch(index, model, folders.thumbnails)
    if better is None:
        return layout.build_layout(serving, name, folders.examples)

    def load_better(directory):
        index, model, model_from = startup.load(str(directory))
        thumbnails = storage.app_folders(index, model, thumbnail_files.THUMBNAIL_FORMAT, cache_root).thumbnails
        return search.RecipeSearch(index, model, thumbnails), f"full model ({model_from.display()})"

    swappable = upgrade.SwappableSearch(serving, f"quick model ({name})")
    watcher = upgrade.Upgrade(swappable, better, load_better, progress)
    watcher.start()
    return layout.build_layout(swappable, name, folders.examples, upgrade=watcher)


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, **options):
    """launch() with the theme, CSS, upload limits, no monitoring or run history, and the
    security headers (ui/headers.py); tests call this too."""
    from starlette.middleware import Middleware  # here, not at the top: start-up (see above)

    from ui import headers, inputs, layout, uploads  # here, not at the top: start-up (see above)

    # show_error=False: refusals are gr.Error and always shown; an unexpected exception's
    # text (paths, internals) stays in the server log instead of a public page (ui/guard.py
    # answers it with our own message).
    # enable_monitoring=False: Gradio's default (None) serves /monitoring/summary, every
    # endpoint's request counts and success rates, to anyone; False answers 403 there.
    return demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=inputs.MAX_UPLOAD_BYTES,
        footer_links=["api", "settings"],
        show_error=False,
        enable_monitoring=False,
        # run_history=False: /gradio_api/runs (a page replaying the runs a browser saved,
        # and routes linking them to a Hugging Face bucket) answers 404.
        run_history=False,
        app_kwargs={
            "middleware": [Middleware(headers.SecurityHeaders), Middleware(uploads.UploadLimits)],
            "lifespan": headers.outermost,
        },
        **layout.launch_style(),
        **options,
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--index", help="index folder or Hub id (user/name[@revision]); default: $RECIPE_INDEX or artifacts/index"
    )
    parser.add_argument(
        "--model", help="model folder or Hub id (user/name[@revision]); default: $RECIPE_MODEL or the index's model"
    )
    parser.add_argument(
        "--until-ready",
        metavar="DIR",
        help="serve the index in DIR until the --index folder is ready, then switch to it (make demo's first run)",
    )
    parser.add_argument("--progress", metavar="FILE", help="with --until-ready: the status file of the run making it")
    parser.add_argument("--revision", help="Hub revision of the index (a commit hash pins it)")
    parser.add_argument("--model-revision", help="Hub revision of the model")
    # On a Space the server must listen on every interface; locally, only on this machine.
    on_space = bool(os.environ.get("SPACE_ID"))
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_space else "127.0.0.1"),
        help="interface to listen on (default: 127.0.0.1; 0.0.0.0 on a Space)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        help="port to serve on (default: 7860)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from ui import guard, search, startup  # here, not at the top: start-up (see above)

    guard.configure_logging()
    # Before the model loads: its engine sessions take torch's thread count when they open
    # (model/engine.py), and two threads per search on 2 shared cores burnt 132 ms of server
    # CPU a query under load (benchmarks/bench_load.py).
    search.configure_torch_for_serving()
    waiting = args.until_ready and args.index and not (Path(args.index) / "manifest.json").is_file()
    where = args.until_ready if waiting else args.index
    index, model, model_from = startup.load(where, args.model, args.revision, args.model_revision)
    print(f"Loaded {index.count:,} recipes; model {model_from}.", flush=True)
    better = Path(args.index) if waiting else None
    if better:
        print(f"Serving it until {better} is ready; the page will switch by itself.", flush=True)
    demo = build_demo(index, model, model_from.display(), better=better, progress=args.progress)
    launch(demo, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
