"""The frame-averaging attack: does a recognizer name a person from the average of a track's
de-identified faces?

A video shows a person in many frames. An attacker who follows the person (a track, as
:mod:`facedid_lib.track` makes one) can align each frame's de-identified face and average them:
``x̄ = (1/T) Σ_t A_t⁻¹(D_t(A_t(x)))``, where ``A_t`` is where the face sits in frame ``t`` against
the grid of pixels (the head moves, the detector's landmarks jitter) and ``D_t`` is the
de-identification of frame ``t``. Where ``D_t`` draws anew in each frame (noise with a new seed,
a random target), the draws average out and ``x̄`` tends to the clean face blurred by the motion;
where the draw is the same in every frame of the person (:func:`facedid_lib.pipeline.track_seed`:
one draw per track), the average keeps it. A deterministic method gives the same result either
way, but the motion moves its pixel grid (a mosaic's blocks, say) against the face, and the average
of shifted mosaics holds detail that no single frame holds.

:func:`averaging_table` measures it on aligned test faces of known identity: each face is moved
by a random similarity per frame (:func:`motion`; the attacker knows it, as he knows his own
alignment), de-identified as the ``facedid`` command does (the ``"head"`` region,
:func:`~facedid_lib.pipeline.cover_chip_heads`) or as the chapters do (``"inner"``), moved back and
averaged over ``frames`` frames. The recognizers answer on one frame and on the two averages.

Example
-------
>>> import torch
>>> theta = motion(2, 3, shift=2.0, size=64, seed=0)
>>> tuple(theta.shape)
(3, 2, 2, 3)
>>> faces = torch.linspace(0, 1, 64).expand(2, 3, 64, 64)      # a smooth ramp
>>> back = warp(warp(faces, theta[1]), invert(theta[1]))
>>> bool((back - faces)[..., 8:-8, 8:-8].abs().max() < 0.01)   # moved and moved back: the ramp again
True
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd
import torch
import torch.nn.functional as F

from facedid_lib.core.config import resolve_device
from facedid_lib.methods.registry import get
from facedid_lib.pipeline.head import cover_chip_heads, head_params
from facedid_lib.pipeline.video import draws_at_random, track_seed

__all__ = ["motion", "warp", "invert", "averaged", "averaging_table", "consistency_table", "COLUMNS"]

#: The three answers per recognizer: on one frame, on the average of frames drawn anew per frame,
#: on the average of frames that share one draw (the track's, as :func:`facedid_lib.pipeline.deidentify_video` does).
COLUMNS = ("one frame", "average, a new draw per frame", "average, one draw per track")


def motion(n: int, frames: int, shift: float = 1.5, turn: float = 2.0, zoom: float = 0.02, size: int = 192,
           seed: int = 0) -> torch.Tensor:
    """``(frames, n, 2, 3)`` affine matrices (the normalised coordinates of
    :func:`torch.nn.functional.affine_grid`): per frame and face a similarity that shifts by up to
    ``shift`` pixels of a ``size``-pixel chip, turns by up to ``turn`` degrees and scales by up to
    ``zoom`` (uniform draws, seeded)."""
    g = torch.Generator().manual_seed(seed)

    def uniform(limit):
        return (2 * torch.rand(frames, n, generator=g) - 1) * limit

    angle, scale = uniform(math.radians(turn)), 1 + uniform(zoom)
    tx, ty = uniform(2 * shift / size), uniform(2 * shift / size)
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], -2)


def invert(theta: torch.Tensor) -> torch.Tensor:
    """The inverse of each 2 x 3 affine matrix of ``theta`` (..., 2, 3)."""
    full = torch.cat([theta, torch.tensor([0.0, 0.0, 1.0]).expand(*theta.shape[:-2], 1, 3)], -2)
    return torch.linalg.inv(full)[..., :2, :]


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``images`` (N, 3, H, W) resampled through ``theta`` (N, 2, 3) (bilinear, borders repeated)."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _apply(images: torch.Tensor, setting, seed: int | None) -> torch.Tensor:
    method_name, region, params = setting
    method = get(method_name)
    params = dict(params) if seed is None else {**params, "seed": seed}
    if region == "head":
        return cover_chip_heads(images, method, head_params(method, params))
    return method(images, **params)


def _frames_back(images: torch.Tensor, setting, frames: int, theta: torch.Tensor, seed: int):
    """Per frame ``t``: the faces moved by ``theta[t]``, de-identified by ``setting`` and moved
    back, as ``{"new": ..., "one": ...}`` (a new draw, seed :func:`~facedid_lib.pipeline.track_seed`
    ``(seed, t)``; the one draw ``seed``), only ``"new"`` for a setting that draws nothing (or None)."""
    if len(theta) != frames:
        raise ValueError(f"theta must hold {frames} frames, got {len(theta)}")
    draws = setting is not None and draws_at_random(get(setting[0]))
    for t in range(frames):
        moved = warp(images, theta[t])
        if setting is None:
            views = {"new": moved}
        elif draws:
            views = {"new": _apply(moved, setting, track_seed(seed, t)), "one": _apply(moved, setting, seed)}
        else:
            views = {"new": _apply(moved, setting, None)}
        yield {key: warp(view, invert(theta[t])) for key, view in views.items()}


def averaged(images: torch.Tensor, setting, frames: int = 16, theta: torch.Tensor | None = None,
             seed: int = 0) -> dict[str, torch.Tensor]:
    """The attacker's views of ``images`` (aligned faces) de-identified by ``setting`` (``(method,
    region, parameters)``, as in :mod:`facedid_lib.evaluate.hiding`; None: not de-identified),
    one per :data:`COLUMNS`: the first frame moved back, and the averages over ``frames`` frames
    moved by ``theta`` (:func:`motion`, seeded by ``seed``) and moved back, with a new draw per
    frame (seed :func:`~facedid_lib.pipeline.track_seed` ``(seed, t)``) and with one draw (``seed``)."""
    if theta is None:
        theta = motion(len(images), frames, size=images.shape[-1], seed=seed)
    sums, first = {}, None
    for back in _frames_back(images, setting, frames, theta, seed):
        for key, view in back.items():
            sums[key] = sums.get(key, 0) + view / frames
        if first is None:
            first = back.get("one", back["new"])
    return dict(zip(COLUMNS, (first, sums["new"], sums.get("one", sums["new"]))))


def consistency_table(faces, recognizers: dict, settings: Mapping[str, tuple], frames: int = 16, seed: int = 0,
                      device=None, progress: bool = False, theta: torch.Tensor | None = None) -> pd.DataFrame:
    """Identity consistency along a track: how often a recognizer gives a person's de-identified
    face the same answer from frame to frame. Each face of ``faces`` is moved, de-identified by each
    of ``settings`` and moved back in ``frames`` frames (as in :func:`averaging_table`); per
    recognizer, the answers ``ŷ_1 .. ŷ_T`` of a face's frames agree with their most frequent
    answer in ``max_y |{t : ŷ_t = y}| / T`` of them. One row per setting (and ``clean``): that
    share in %, averaged over the faces, with a new draw per frame and with one draw per track
    (equal for a setting that draws nothing). 100 %: the person keeps one (false) identity through
    the clip; low: it flickers from frame to frame, the flicker that tracking removes. ``theta``:
    the motion (default :func:`motion` seeded by ``seed``)."""
    from tqdm.auto import tqdm

    from facedid_lib.recognize.protocol import predict

    images = faces.images.to(resolve_device(device))
    if theta is None:
        theta = motion(len(images), frames, size=images.shape[-1], seed=seed)
    rows = {}
    for label, setting in tqdm({"clean": None, **settings}.items(), desc="identity consistency", disable=not progress):
        answers = {}  # (recognizer, view) -> per frame, (N,) labels
        for back in _frames_back(images, setting, frames, theta, seed):
            for name, recognizer in recognizers.items():
                for key, view in back.items():
                    answers.setdefault((name, key), []).append(predict(recognizer, view.clamp(0, 1)).cpu())
        row = {}
        for name in recognizers:
            for column, key in zip(COLUMNS[1:], ("new", "one")):
                labels = torch.stack(answers.get((name, key), answers[name, "new"]), 1)  # (N, frames)
                agree = (labels[:, :, None] == labels[:, None, :]).sum(1).max(1).values
                row[name, column.replace("average, ", "")] = 100 * float((agree / frames).mean())
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["recognizer", "frames drawn"])
    return table


def averaging_table(faces, recognizers: dict, settings: Mapping[str, tuple], frames: int = 16, seed: int = 0,
                    device=None, progress: bool = False) -> pd.DataFrame:
    """The frame-averaging attack on ``faces`` (a :class:`~facedid_lib.data.FaceSet` of aligned
    test chips): one row per setting (and ``clean``), for each recognizer the accuracy (%) on one
    frame and on the two averages of ``frames`` frames (:data:`COLUMNS`; see the module's text)."""
    from tqdm.auto import tqdm

    from facedid_lib.evaluate.harness import measure
    from facedid_lib.metrics.columns import MR

    device = resolve_device(device)
    images = faces.images.to(device)
    theta = motion(len(images), frames, size=images.shape[-1], seed=seed)
    rows = {}
    for label, setting in tqdm({"clean": None, **settings}.items(), desc="averaging attack", disable=not progress):
        views = averaged(images, setting, frames, theta, seed)
        row, done = {}, {}
        for column, view in views.items():
            if id(view) not in done:  # a method that draws nothing: both averages are one
                done[id(view)] = measure(faces, view.clamp(0, 1), recognizers, device=device, quality=())
            for name, key in MR.columns(done[id(view)]).items():
                row[name, column] = 100 * (1 - done[id(view)][key])
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["recognizer", "attacker sees"])
    return table
