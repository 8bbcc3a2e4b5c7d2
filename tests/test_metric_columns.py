"""Metrics as objects: the registry, the columns they name, and the harness measuring by key."""

import pytest
import torch

from facedid_lib import evaluate, metrics
from facedid_lib.data.facesets import FaceSet
from facedid_lib.metrics import columns
from facedid_lib.metrics.columns import METRICS, MR, Metric


def _faces(n=6):
    labels = torch.arange(n) % 3
    images = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return FaceSet(images, labels, labels.clone(), [f"{i}.jpg" for i in range(n)])


def test_quality_metrics_are_their_functions():
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert torch.equal(METRICS["ssim"](x, y), metrics.ssim(x, y))
    assert torch.equal(METRICS["CW-SSIM"](x, y), metrics.cw_ssim(x, y))  # the title is an alias
    with pytest.raises(TypeError, match="per recognition"):
        MR(x, y)


def test_columns_round_trip_and_refuse_what_they_cannot_name():
    assert MR.subject(MR.column("dlib black box")) == "dlib black box"
    assert columns.DETECTED.subject("MR HOG") is None and MR.subject("MR") is None
    with pytest.raises(ValueError, match="give"):
        MR.column()
    with pytest.raises(ValueError, match="no"):
        columns.SSIM.column("Model A")
    with pytest.raises(ValueError, match="kind"):
        Metric("x", "X", "mood", "?")
    with pytest.raises(ValueError, match="function"):
        Metric("x", "X", "quality", "no function")


def test_the_harness_measures_the_quality_metrics_it_is_asked_for():
    faces = _faces()
    recognizers = {"first": lambda images: torch.zeros(len(images), dtype=torch.long)}
    blur = lambda images: images.flip(-1)  # noqa: E731
    default = evaluate.evaluate(blur, faces, recognizers, progress=False)
    assert list(default) == ["n", "SSIM", "L2", "MSE", "MR first"]
    asked = evaluate.evaluate(blur, faces, recognizers, progress=False, quality=("ssim", "cw-ssim"))
    assert list(asked) == ["n", "SSIM", "CW-SSIM", "MR first"]
    assert asked["SSIM"] == default["SSIM"]
    assert asked["CW-SSIM"] == pytest.approx(float(metrics.cw_ssim(faces.images.flip(-1), faces.images).mean()))
    assert default["MR first"] == pytest.approx(4 / 6)  # labels 0, 1, 2, 0, 1, 2: two are 0
    with pytest.raises(ValueError, match="not quality metrics"):
        evaluate.evaluate(blur, faces, recognizers, progress=False, quality=("mr",))
    with pytest.raises(ValueError, match="unknown metric 'psnr'"):
        evaluate.evaluate(blur, faces, recognizers, progress=False, quality=("psnr",))
