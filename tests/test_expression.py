"""Tests of facedid_lib.attributes.expression: dlib's 68 landmarks, mouth open and smiling.

- shapes, dtypes and devices; clear errors for bad input;
- the landmarks of a mirrored chip mirror the chip's; chips of another size give the same landmarks;
- the calibrated thresholds reach their balanced accuracy against CelebA's labels on the held-out
  half of the labelled chips (``attributes.csv`` sorted by file name, chips 121 to 242).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from facedid_lib.core import config
from facedid_lib.attributes import expression as E

pytestmark = pytest.mark.usefixtures("one_thread")

#: The detectors' lowest acceptable balanced accuracy on the held-out chips.
MOUTH_OPEN_BOUND = 0.84
SMILING_BOUND = 0.80


@pytest.fixture(scope="module")
def folder():
    path = config.data_dir()
    if path is None or not (path / "attributes.csv").is_file():
        pytest.skip("needs FACEDID_DATA: the course's offline folder with attributes.csv (celeba_subset)")
    return path


def _chips(folder, names) -> torch.Tensor:
    arrays = [np.array(Image.open(folder / "img_align" / n).convert("RGB")) for n in names]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def _labelled(folder, second_half: bool):
    table = pd.read_csv(folder / "attributes.csv", encoding="utf-8-sig").sort_values("image")
    half = len(table) // 2
    table = table.iloc[half:] if second_half else table.iloc[:half]
    return _chips(folder, table["image"]), table


@pytest.fixture(scope="module")
def calibration_half(folder):
    """The first half of the labelled chips (121 of 243, by file name), the thresholds' data."""
    return _labelled(folder, second_half=False)


@pytest.fixture(scope="module")
def held_out(folder):
    """The held-out half of the labelled chips (122 of 243) and their CelebA labels."""
    return _labelled(folder, second_half=True)


@pytest.fixture(scope="module")
def chips(held_out):
    """A dozen of them."""
    return held_out[0][::10]


def _balanced_accuracy(predicted: torch.Tensor, truth: np.ndarray) -> float:
    predicted = predicted.cpu().numpy()
    return 0.5 * (predicted[truth].mean() + (~predicted[~truth]).mean())


# ------------------------------------------------------------------------------------------------
# shapes and devices


def test_shapes_and_dtypes(chips):
    points = E.landmarks68(chips)
    assert isinstance(points, np.ndarray) and points.dtype == np.float64
    assert points.shape == (len(chips), 68, 2)
    assert (points >= 0).all() and (points <= 191).all()
    # the mouth below the eyes; the eyes where the alignment puts them, about 0.2 of the face box
    # down from its top ((0.4 + 0.2) / 1.8 * 191 = 64 px) and symmetric about the chip's centre
    assert (points[:, 48:68, 1].min(1) > points[:, 36:48, 1].max(1)).all()
    assert np.abs(points[:, 36:48, 1].mean(1) - 64).max() < 8
    assert np.abs(points[:, 36:48, 0].mean(1) - 95.5).max() < 8
    for f in (E.mouth_opening, E.smile_score):
        out = f(chips)
        assert out.shape == (len(chips),) and out.dtype == torch.float32 and out.device == chips.device
        assert torch.isfinite(out).all()
    for f in (E.mouth_open, E.smiling):
        out = f(chips)
        assert out.shape == (len(chips),) and out.dtype == torch.bool and out.device == chips.device


def test_thresholds(chips):
    opening, score = E.mouth_opening(chips), E.smile_score(chips)
    assert (opening >= 0).all() and (score > 0).all()
    assert torch.equal(E.mouth_open(chips), opening > E.MOUTH_OPEN_THRESHOLD)
    assert torch.equal(E.smiling(chips, threshold=1.0), score > 1.0)
    assert not E.mouth_open(chips, threshold=10).any() and E.smiling(chips, threshold=0).all()


def test_model_loaded_once():
    assert E._shape_predictor68() is E._shape_predictor68()


def test_face_box_is_centred():
    assert E.face_box(192) == (42, 42, 149, 149)
    for size in (64, 150, 191, 256):
        left, top, right, bottom = E.face_box(size)
        assert left == top and right == bottom == size - 1 - left
        assert abs((right - left) - (size - 1) / 1.8) <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_chips(chips):
    on_gpu = chips[:3].cuda()
    np.testing.assert_array_equal(E.landmarks68(on_gpu), E.landmarks68(chips[:3]))
    for f in (E.mouth_opening, E.smile_score, E.mouth_open, E.smiling):
        out = f(on_gpu)
        assert out.device == on_gpu.device
        assert torch.equal(out.cpu(), f(chips[:3]))


def test_bad_input(chips):
    with pytest.raises(TypeError, match="chips"):
        E.landmarks68(chips.numpy())
    with pytest.raises(TypeError, match="float"):
        E.smiling((chips * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        E.mouth_open(chips[0])
    with pytest.raises(ValueError, match="RGB"):
        E.landmarks68(chips[:, :1])
    with pytest.raises(ValueError, match="empty"):
        E.landmarks68(chips[:0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        E.smile_score(chips * 2)
    with pytest.raises(ValueError, match="square"):
        E.mouth_opening(chips[..., :180])
    with pytest.raises(ValueError, match="16"):
        E.landmarks68(torch.rand(1, 3, 8, 8))
    with pytest.raises(TypeError, match="threshold"):
        E.mouth_open(chips, threshold="0.1")
    with pytest.raises(TypeError, match="threshold"):
        E.smiling(chips, threshold=math.nan)


# ------------------------------------------------------------------------------------------------
# geometry


def test_mirrored_chip_mirrors_the_landmarks(chips):
    points = E.landmarks68(chips)
    flipped = E.landmarks68(chips.flip(-1))
    mirrored = np.stack([191 - flipped[:, E.MIRROR, 0], flipped[:, E.MIRROR, 1]], axis=-1)
    distance = np.linalg.norm(mirrored - points, axis=-1)
    assert sorted(E.MIRROR) == list(range(68)) and (E.MIRROR[E.MIRROR] == np.arange(68)).all()
    assert distance.mean() < 2.0, distance.mean()
    assert distance[:, 36:68].mean(1).max() < 4.0  # eyes and mouth, every chip


def test_other_chip_sizes(chips):
    points = E.landmarks68(chips)
    for size in (96, 288):
        resized = F.interpolate(chips, size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False).clamp(0, 1)
        other = E.landmarks68(resized)
        assert (other >= -0.5).all() and (other <= size - 0.5).all()
        in_192 = (other + 0.5) * 192 / size - 0.5
        assert np.linalg.norm(in_192 - points, axis=-1).mean() < 2.5


# ------------------------------------------------------------------------------------------------
# calibration


def test_mouth_open_on_held_out_chips(held_out):
    images, table = held_out
    truth = table["Mouth_Slightly_Open"].to_numpy() == 1
    accuracy = _balanced_accuracy(E.mouth_open(images), truth)
    assert accuracy >= MOUTH_OPEN_BOUND, accuracy


def test_smiling_on_held_out_chips(held_out):
    images, table = held_out
    truth = table["Smiling"].to_numpy() == 1
    accuracy = _balanced_accuracy(E.smiling(images), truth)
    assert accuracy >= SMILING_BOUND, accuracy


@pytest.mark.parametrize("name, measure, decide", [("mouth_open", E.mouth_opening, E.mouth_open),
                                                   ("smiling", E.smile_score, E.smiling)])
def test_calibration_is_what_the_detectors_do(name, measure, decide, calibration_half, held_out):
    """CALIBRATION's numbers, measured again: the default threshold is the best cut of the measure
    on the calibration half, and its balanced accuracies on both halves are the recorded ones."""
    entry = E.CALIBRATION[name]
    for part, (images, table) in (("calibration", calibration_half), ("held_out", held_out)):
        truth = table[entry["label"]].to_numpy() == 1
        decided = decide(images)  # the default threshold
        assert torch.equal(decided, measure(images) > entry["threshold"])
        assert len(images) == entry[f"{part}_chips"]
        assert round(_balanced_accuracy(decided, truth), 3) == entry[f"{part}_balanced_accuracy"], part
    images, table = calibration_half
    values, truth = measure(images).numpy(), table[entry["label"]].to_numpy() == 1
    cuts = np.unique(values)
    cuts = (cuts[1:] + cuts[:-1]) / 2  # every distinct decision on these chips
    accuracies = np.array([_balanced_accuracy(torch.from_numpy(values > c), truth) for c in cuts])
    best = cuts[accuracies == accuracies.max()]
    assert len(best) == 1 and np.array_equal(values > entry["threshold"], values > best[0])


def test_shared_landmarks_answer_as_the_functions_with_one_run_per_chips(faceset, monkeypatch):
    chips = faceset[0].images[:6].clone()
    marks = E.SharedLandmarks()
    runs = []
    real = E.landmarks68
    monkeypatch.setattr(E, "landmarks68", lambda c: runs.append(len(c)) or real(c))
    other = chips.flip(0)
    assert torch.equal(marks.smiling(chips), E.smiling(chips))
    assert torch.equal(marks.smiling(other), E.smiling(other))
    runs.clear()
    assert torch.equal(marks.mouth_open(chips), E.mouth_open(chips))
    assert torch.equal(marks.mouth_open(other), E.mouth_open(other))
    assert runs == [6, 6]  # the functions ran the predictor; the shared object did not
    chips.mul_(0.5)  # changed in place: measured again
    runs.clear()
    marks.smiling(chips)
    assert runs == [6]
