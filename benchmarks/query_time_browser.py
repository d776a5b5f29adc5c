"""The browser half of benchmarks/bench_query_time.py: Debian's chromium driven by
Playwright (headless), one tab per app, timing a title typed and clicked, and a photo
chosen, until every gallery image is loaded and painted."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import median, p90
from benchmarks.serving import in_turn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

PAINTED_JS = """
async ([api, start]) => {
  performance.clearResourceTimings();
  const gallery = document.querySelector(`#${api}_gallery`);
  const sources = () => [...gallery.querySelectorAll('.thumbnail-item img')].map(i => i.src).join(' ');
  const before = sources();
  let t0 = performance.now();
  if (start === 'click') { document.querySelector(`#${api}_button`).click(); }
  else { t0 = await window.__fileChosen; }
  const painted = () => {
    const imgs = [...gallery.querySelectorAll('.thumbnail-item img')];
    return imgs.length > 0 && sources() !== before && imgs.every(i => i.complete && i.naturalWidth > 0);
  };
  const deadline = performance.now() + 15000;
  const ok = await new Promise(resolve => {
    const check = () => painted() ? resolve(true)
      : (performance.now() > deadline ? resolve(false) : requestAnimationFrame(check));
    check();
  });
  if (!ok) return null;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const done = performance.now() - t0;
  const entries = performance.getEntriesByType('resource').filter(e => e.startTime >= t0 - 1);
  const last = (test, key) => Math.max(-1, ...entries.filter(e => test(e.name)).map(e => e[key] - t0));
  const first = (test, key) => Math.min(1e9, ...entries.filter(e => test(e.name)).map(e => e[key] - t0));
  const srcs = new Set([...gallery.querySelectorAll('.thumbnail-item img')].map(i => i.src));
  return {
    upload: last(n => n.includes('/gradio_api/upload?'), 'responseEnd'),
    join: first(n => n.includes('/queue/join'), 'startTime'),
    answer: last(n => n.includes('/queue/data'), 'responseEnd'),
    images: last(n => srcs.has(n), 'responseEnd'),
    painted: done,
  };
}
"""
# Resolves with the time the file input's change event fired (the visitor chose a file).
FILE_CHOSEN_JS = """
() => {
  const input = document.querySelector('#photo_to_recipe_input input[type=file]');
  window.__fileChosen = new Promise(r => input.addEventListener('change', () => r(performance.now()), {once: true}));
}
"""


def in_browser(urls: dict[str, str], titles: list[str], photos: list[Path]) -> dict:
    """One tab per app in one browser; each query in every tab, the tab in front."""
    from playwright.sync_api import sync_playwright

    steps = {label: {"title_click_to_painted": [], "photo_chosen_to_painted": []} for label in urls}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pages = {}
        for label, url in urls.items():
            pages[label] = page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("tab", name="Title \u2192 Recipe").click()
        for i, title in enumerate(titles):
            for label, page in in_turn(pages, i):
                page.bring_to_front()
                page.get_by_label("Dish name").fill(title)
                steps[label]["title_click_to_painted"].append(page.evaluate(PAINTED_JS, ["title_to_recipe", "click"]))
        for page in pages.values():
            page.bring_to_front()
            page.get_by_role("tab", name="Photo \u2192 Recipe").click()
        for i, photo in enumerate(photos):
            for label, page in in_turn(pages, i):
                page.bring_to_front()
                remove = page.locator("#photo_to_recipe_input button[aria-label='Remove Image']")
                if remove.count():
                    remove.click()
                page.evaluate(FILE_CHOSEN_JS)
                # Started, not awaited: it waits for the file chosen next.
                page.evaluate(f"() => {{ window.__painted = ({PAINTED_JS})(['photo_to_recipe', 'file']); }}")
                page.locator("#photo_to_recipe_input input[type=file]").set_input_files(str(photo))
                steps[label]["photo_chosen_to_painted"].append(page.evaluate("() => window.__painted"))
        browser.close()
    return {label: {name: browser_summary(v) for name, v in by_name.items()} for label, by_name in steps.items()}


BROWSER_STEPS = ("upload", "join", "answer", "images", "painted")


def browser_summary(steps: list[dict | None]) -> dict:
    """Median and p90 of the time to a painted gallery, and the median of each step's share:
    to the query sent (after the upload, for a photo), to the answer in, to the gallery
    files in, to painted."""
    done = [s for s in steps if s]
    out = {
        "median_ms": median([s["painted"] for s in done]),
        "p90_ms": p90([s["painted"] for s in done]),
        "count": len(done),
        "unchanged_gallery": len(steps) - len(done),
    }
    for i, step in enumerate(BROWSER_STEPS):
        spans = []
        for s in done:
            if 0 <= s[step] < 1e9:
                earlier = [s[e] for e in BROWSER_STEPS[:i] if 0 <= s[e] < 1e9]
                spans.append(s[step] - max(earlier, default=0.0))
        if spans:
            out[f"{step}_step_median_ms"] = median(spans)
    return out
