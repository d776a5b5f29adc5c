"""Training curves as a PNG a person can glance at."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from model.atomic import atomic_write  # noqa: E402
from model.protocol import DIRECTIONS  # noqa: E402


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Write a PNG under a temporary name, then rename: a reader never sees half a plot."""
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    plt.close(fig)


def plot_curves(history: list[dict], path: Path, best_epoch: int | None = None) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, r1_ax) = plt.subplots(1, 2, figsize=(11, 4))
    loss_ax.plot(epochs, [h["train_loss"] for h in history], label="train")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], label="val")
    loss_ax.set(xlabel="epoch", ylabel="six-pair InfoNCE", title="loss")
    loss_ax.legend()
    for direction in DIRECTIONS:
        r1_ax.plot(epochs, [h["val"][direction]["r1"] for h in history], label=direction)
    r1_ax.set(xlabel="epoch", ylabel="R@1", title="val R@1 (500-pair bags recipe, 1,000 title)")
    if best_epoch is not None:
        for ax in (loss_ax, r1_ax):
            ax.axvline(best_epoch, color="grey", linestyle=":", label="chosen on val")
    r1_ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_recall_at_k(curves: dict[str, list[float]], pools: dict[str, int], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for direction, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, label=f"{direction} (pool {pools[direction]})")
    ax.set(xlabel="K", ylabel="R@K", title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
