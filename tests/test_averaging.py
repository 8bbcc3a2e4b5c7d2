"""The frame-averaging attack: draws made anew per frame average out, one draw per track stays."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from facedid_lib.evaluate import averaging
from facedid_lib.viz import animation
from tests.test_evaluate import colour_faces, nearest_colour

NOISE = ("gaussian-noise", "inner", {"sigma": 0.15})


def smooth_faces(n: int = 4, size: int = 32) -> torch.Tensor:
    ramp = torch.linspace(0.2, 0.8, size)
    return torch.stack([(ramp[None, :, None] * 0.5 + ramp[None, None, :] * 0.5 + 0.05 * i).expand(3, size, size)
                        for i in range(n)]).clamp(0, 1)


def _errors(views, faces):
    return {k: float((v - faces)[..., 4:-4, 4:-4].abs().mean()) for k, v in views.items()}


def test_motion_stays_within_its_bounds_and_inverts():
    theta = averaging.motion(5, 7, shift=2.0, turn=3.0, zoom=0.05, size=64, seed=1)
    assert theta.shape == (7, 5, 2, 3)
    assert theta[..., 2].abs().max() <= 2 * 2.0 / 64 + 1e-6  # the shift, in normalised units
    scale = torch.linalg.det(theta[..., :2]).sqrt()
    assert ((scale - 1).abs() <= 0.05 + 1e-6).all()
    full = torch.cat([averaging.invert(theta), torch.tensor([0.0, 0, 1]).expand(7, 5, 1, 3)], -2)
    product = full @ torch.cat([theta, torch.tensor([0.0, 0, 1]).expand(7, 5, 1, 3)], -2)
    assert torch.allclose(product, torch.eye(3).expand(7, 5, 3, 3), atol=1e-5)
    assert torch.equal(theta, averaging.motion(5, 7, shift=2.0, turn=3.0, zoom=0.05, size=64, seed=1))


def test_without_motion_one_draw_is_one_frame_and_new_draws_average_out():
    faces = smooth_faces()
    still = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(16, len(faces), 2, 3)
    views = averaging.averaged(faces, NOISE, frames=16, theta=still)
    assert list(views) == list(averaging.COLUMNS)
    assert torch.allclose(views["average, one draw per track"], views["one frame"], atol=1e-6)
    error = _errors(views, faces)
    assert error["average, a new draw per frame"] < 0.4 * error["one frame"], error


def test_with_motion_new_draws_still_leak_more_than_one_draw():
    faces = smooth_faces()
    error = _errors(averaging.averaged(faces, NOISE, frames=16, seed=3), faces)
    assert error["average, a new draw per frame"] < error["average, one draw per track"] < error["one frame"], error


def test_a_method_that_draws_nothing_gives_one_average():
    views = averaging.averaged(smooth_faces(), ("blur", "inner", {"sigma": 2.0}), frames=3)
    assert views["average, a new draw per frame"] is views["average, one draw per track"]
    with pytest.raises(ValueError, match="theta must hold 4 frames"):
        averaging.averaged(smooth_faces(), None, frames=4, theta=averaging.motion(4, 3))


def test_averaging_table_has_three_answers_per_recognizer():
    faces = colour_faces()
    table = averaging.averaging_table(faces, {"colour": nearest_colour}, {"noise": NOISE, "negate": ("negate", "inner", {})},
                                      frames=4, device="cpu")
    assert list(table.index) == ["clean", "noise", "negate"]
    assert list(table.columns) == [("colour", column) for column in averaging.COLUMNS]
    assert (table.loc["clean"] == 100).all()
    assert (table.loc["negate"] < 100).all()  # the colours turned: no face keeps its own


def centre_colour(images):
    """A recognizer that reads the colour of the centre pixel: noise moves its answer."""
    return nearest_colour(images[..., 16:17, 16:17])


def test_consistency_flickers_with_new_draws_and_holds_with_one_draw_per_track():
    faces = colour_faces()
    still = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(8, len(faces), 2, 3)
    settings = {"noise": ("gaussian-noise", "inner", {"sigma": 0.5}), "negate": ("negate", "inner", {})}
    table = averaging.consistency_table(faces, {"centre": centre_colour}, settings, frames=8, seed=1, device="cpu",
                                        theta=still)
    assert list(table.index) == ["clean", "noise", "negate"]
    assert list(table.columns) == [("centre", "a new draw per frame"), ("centre", "one draw per track")]
    assert (table.loc[["clean", "negate"]] == 100).all().all()  # nothing drawn, nothing moved: one answer
    noise = table.loc["noise", "centre"]
    assert noise["one draw per track"] == 100 and noise["a new draw per frame"] < 90, noise
    moving = averaging.consistency_table(faces, {"centre": centre_colour}, settings, frames=8, seed=1, device="cpu")
    negate = moving.loc["negate", "centre"]
    assert negate["a new draw per frame"] == negate["one draw per track"]  # nothing drawn: one column
    assert (moving >= 100 / 8).all().all()  # the most frequent answer holds at least one frame


def test_side_by_side_animates_the_shortest_clip(tmp_path):
    from facedid_lib.io.video import VideoWriter

    for name, frames in (("a.mp4", 9), ("b.mp4", 6)):
        with VideoWriter(tmp_path / name, (64, 48), 10) as out:
            for t in range(frames):
                out.write(torch.full((48, 64, 3), 20 * t, dtype=torch.uint8).numpy())
    gif = animation.side_by_side([tmp_path / "a.mp4", tmp_path / "b.mp4"], ["a", "b"], every=2, width=32)
    image = Image.open(io.BytesIO(gif))
    assert image.n_frames == 3 and image.size == (64, 24 + animation.BAND)
    assert image.info["duration"] == 200 and image.info["loop"] == 0
    with pytest.raises(ValueError, match="one label per video"):
        animation.side_by_side([tmp_path / "a.mp4"], ["a", "b"])
