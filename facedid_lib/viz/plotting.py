"""Figures for the chapters: image grids, detections, sweeps, ROC curves, rank profiles.

Every function returns a ``matplotlib.figure.Figure`` (and closes nothing): a notebook displays
it, a widget redraws it, a test inspects it.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle


def as_display(image) -> np.ndarray:
    """A photo or chip as an ``H x W x 3`` array for ``imshow``.

    Accepts a ``(3, H, W)`` float tensor in [0, 1] (on any device) or an ``(H, W, 3)`` array.
    """
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"image tensor must have shape 3 x H x W, got {tuple(image.shape)}")
        return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image array must have shape H x W x 3, got {image.shape}")
    return image


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.6,
               suptitle: str | None = None):
    """Show images (an ``N x 3 x H x W`` tensor or a list of photos) in a grid with titles."""
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(as_display(images[i]))
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def draw_detections(ax, detections, color: str = "lime", label_scores: bool = True) -> None:
    """Draw detection boxes ``(x0, y0, x1, y1, score)`` on an axis."""
    for det in detections:
        x0, y0, x1, y1, score = det[:5]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=2))
        if label_scores:
            ax.text(x0, y0 - 3, f"{score:.2f}", color=color, fontsize=8, va="bottom")


def detections_figure(photo, detections, title: str | None = None, size: float = 6.0):
    """One photo with its detection boxes; the title counts them."""
    image = as_display(photo)
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(size, size * h / w))
    ax.imshow(image)
    draw_detections(ax, detections)
    ax.set_title(title if title is not None else f"{len(detections)} face(s)")
    ax.axis("off")
    fig.tight_layout()
    return fig


def sweep_figure(values, curves: dict, xlabel: str, ylabel: str, title: str | None = None):
    """Line plot of several curves (``name -> y values``) against one swept parameter."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, ys in curves.items():
        ax.plot(values, ys, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def label_heights(points: Sequence[tuple], gap: float = 0.035, near: float = 0.1) -> list[float]:
    """The height of each point's label so that labels of points within ``near`` of each other in x are
    at least ``gap`` apart in y (data units): the points are taken from the lowest up, and a label
    that would print over one already placed moves up just above it.

    >>> [round(h, 3) for h in label_heights([(0.5, 0.9), (0.5, 0.91), (0.52, 0.9), (0.9, 0.1)])]
    [0.9, 0.97, 0.935, 0.1]
    """
    heights = [0.0] * len(points)
    placed: list[tuple] = []
    for i in sorted(range(len(points)), key=lambda k: (points[k][1], points[k][0])):
        x, height = points[i]
        for other_x, other_height in sorted(placed, key=lambda p: p[1]):
            if abs(other_x - x) < near and abs(other_height - height) < gap:
                height = other_height + gap
        heights[i] = height
        placed.append((x, height))
    return heights


def privacy_utility(table, threats: Sequence[str], families: dict | None = None, utility: str = "SSIM",
                    title: str | None = None):
    """One panel per threat model: each protection a point at (``utility``, ``MR <threat>``).

    ``table`` is :func:`facedid_lib.evaluate.threats.threat_table`'s (one row per protection);
    ``families`` maps a row's label to its family (the colour and the legend; None: one colour).
    A protection to which a threat does not apply (NaN) has no point in that panel. The upper right
    corner is the goal: the face keeps its quality and no recognizer of that attacker names it.
    """
    families = families or {label: "protection" for label in table.index}
    names = list(dict.fromkeys(families[label] for label in table.index))
    colours = {name: plt.cm.tab10(i % 10) for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, len(threats), figsize=(3.3 * len(threats), 3.4), sharex=True, sharey=True,
                             squeeze=False)
    for ax, threat in zip(axes[0], threats):
        column = f"MR {threat}"
        shown = [(label, row[utility], row[column]) for label, row in table.iterrows() if not np.isnan(row[column])]
        for (label, x, y), height in zip(shown, label_heights([(x, y) for _, x, y in shown])):
            ax.scatter(x, y, color=colours[families[label]], s=28, label=families[label])
            ax.annotate(label.split(" ")[0], (x, y), xytext=(x + 0.04, height), textcoords="data", fontsize=6,
                        alpha=0.8, va="center", arrowprops=dict(arrowstyle="-", lw=0.4, alpha=0.4))
        ax.set_title(threat)
        ax.set_xlabel(utility)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("MR of the attacker's best recognizer")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        more_handles, more_labels = ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def detections_grid(photos: Sequence, detections: Sequence, titles: Sequence[str] | None = None,
                    ncols: int = 4, size: float = 3.2):
    """Several photos side by side, each with its boxes (one list of detections per photo)."""
    if len(photos) != len(detections) or not photos:
        raise ValueError(f"need one list of detections per photo, got {len(photos)} photos and "
                         f"{len(detections)} lists")
    ncols = min(ncols, len(photos))
    nrows = math.ceil(len(photos) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 1.3 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(photos):
            ax.imshow(as_display(photos[i]))
            draw_detections(ax, detections[i])
            ax.set_title(titles[i] if titles else f"{len(detections[i])} face(s)", fontsize=9)
    fig.tight_layout()
    return fig


def roc_figure(roc: dict, threshold: float | None = None, title: str | None = None):
    """A verifier's ROC (``roc``: ``fpr``, ``tpr``, ``thresholds``, ``auc``, as
    :class:`facedid_lib.recognize.sface.Verifier` gives it), log false-accept axis, with the operating
    point of ``threshold`` marked."""
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    fpr, tpr = np.asarray(roc["fpr"]), np.asarray(roc["tpr"])
    ax.plot(np.maximum(fpr, 1e-5), tpr, label=f"ROC (AUC {roc['auc']:.4f})")
    if threshold is not None:
        i = int(np.argmin(np.abs(np.asarray(roc["thresholds"]) - threshold)))
        ax.plot(max(fpr[i], 1e-5), tpr[i], "ro", label=f"threshold {threshold:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (impostor pairs accepted)")
    ax.set_ylabel("true accept rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def rank_probability(profiles, k_values: Sequence[int] = (5, 9), ax=None, max_rank: int = 10,
                     title: str | None = None):
    """The lecture's "probability of obtaining the true face label, using the sorted ranked
    activations of the final layer" (Mygdalis et al. 2020): ``P(r(i) = y)`` against the rank ``i``.

    ``profiles``: :func:`facedid_lib.evaluate.rank_profile`'s table (one row per method, integer
    columns ``1, 2, ...`` for the ranks); one line per method over ranks ``1 .. max_rank`` (as
    many as the table has), and a dashed horizontal line at ``1/k`` for each ``k`` of ``k_values``
    (k-anonymity asks every rank to stay below it). ``ax``: draw there (else a new figure).
    """
    ranks = sorted(c for c in profiles.columns if isinstance(c, (int, np.integer)) and 1 <= c <= max_rank)
    if not ranks or profiles.empty:
        raise ValueError("profiles must have a row per method and rank columns 1, 2, ... (see evaluate.rank_profile)")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    for method, row in profiles.iterrows():
        ax.plot(ranks, [row[i] for i in ranks], marker="o", label=str(method))
    for k in k_values:
        ax.axhline(1 / k, linestyle="--", color="grey", linewidth=1)
        ax.annotate(f"1/k, k = {k}", (1, 1 / k), xycoords=("axes fraction", "data"), xytext=(-2, 2),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8, color="grey")
    ax.set_xticks(ranks)
    ax.set_xlabel("rank i of the true label (sorted final-layer activations)")
    ax.set_ylabel("P(r(i) = y)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title if title is not None else "probability of the true label at each rank")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
