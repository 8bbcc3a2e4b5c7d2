"""Tests of facedid_lib.detect.mmod: dlib's MMOD CNN face detector ported to PyTorch.

The reference is dlib itself, ``dlib.cnn_face_detection_model_v1(path)(image, upsample)``, on a
few wild photos of the offline data folder downscaled to at most 480 pixels (dlib's detector is
slow on two CPU cores) and on a 2 x 2 mosaic of face chips (four faces found at several pyramid
levels). What is compared: the list of boxes (exactly, in order) and each confidence (within
1e-2; measured differences are about 1e-6).
"""

from __future__ import annotations

import time

import dlib
import numpy as np
import pytest
import torch
from PIL import Image

from facedid_lib import detect
from facedid_lib.detect import mmod

CONFIDENCE_TOLERANCE = 1e-2


def _load(path, side: int) -> np.ndarray:
    """A photo as uint8 RGB, downscaled (bilinear) so that its longer side is at most ``side``."""
    image = Image.open(path).convert("RGB")
    scale = side / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    return np.array(image)


@pytest.fixture(scope="module")
def dlib_cnn():
    return dlib.cnn_face_detection_model_v1(mmod.model_path())


@pytest.fixture(scope="module")
def chips(data_folder) -> np.ndarray:
    """Eight aligned 192 x 192 face chips, uint8 (8, 192, 192, 3)."""
    paths = sorted((data_folder / "img_align").glob("*.jpg"))[::250][:8]
    return np.stack([np.array(Image.open(p).convert("RGB")) for p in paths])


@pytest.fixture(scope="module")
def photos(data_folder, chips) -> dict[str, np.ndarray]:
    wild = data_folder / "wild"
    tiles = [np.array(Image.fromarray(c).resize((160, 160), Image.BILINEAR)) for c in chips[:4]]
    return {
        "group-480": _load(wild / "027779.jpg", 480),  # two faces at this size
        "000180-320": _load(wild / "000180.jpg", 320),
        "058405-308": _load(wild / "058405.jpg", 320),
        "000988-320": _load(wild / "000988.jpg", 320),  # no face this large
        "mosaic-320": np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0),
    }


def _dlib_detections(detector, image: np.ndarray, upsample: int = 0) -> list[detect.Detection]:
    return [detect.Detection(r.rect.left(), r.rect.top(), r.rect.right() + 1, r.rect.bottom() + 1,
                            r.confidence) for r in detector(image, upsample)]


def _assert_same(ours, theirs, name):
    assert [tuple(map(int, d[:4])) for d in ours] == [tuple(map(int, d[:4])) for d in theirs], \
        f"{name}: boxes differ\nours  {ours}\ndlib  {theirs}"
    gaps = [abs(a.score - b.score) for a, b in zip(ours, theirs)]
    assert max(gaps, default=0.0) < CONFIDENCE_TOLERANCE, f"{name}: confidences differ by {gaps}"
    return max(gaps, default=0.0)


# ------------------------------------------------------------------------------------------------
# against dlib


def test_same_detections_as_dlib(photos, dlib_cnn):
    found = 0
    worst = 0.0
    ours_s = theirs_s = 0.0
    mmod.mmod_net("cpu")  # read the weights before timing
    for name, image in photos.items():
        start = time.perf_counter()
        theirs = _dlib_detections(dlib_cnn, image)
        theirs_s += time.perf_counter() - start
        start = time.perf_counter()
        ours = mmod.detect_mmod(image, device="cpu")
        ours_s += time.perf_counter() - start
        worst = max(worst, _assert_same(ours, theirs, name))
        found += len(theirs)
    assert found == 8, f"expected 2 + 1 + 1 + 0 + 4 faces from dlib, got {found}"
    print(f"\nMMOD: {found} faces identical, max |confidence difference| {worst:.2e}; "
          f"time ours {ours_s:.2f} s, dlib {theirs_s:.2f} s")


def test_dlib_resize_mode_and_registry(photos, dlib_cnn):
    """The emulated dlib resize gives the same boxes; ``detect.detect(photo, "mmod")`` is the same."""
    image = photos["mosaic-320"]
    theirs = _dlib_detections(dlib_cnn, image)
    _assert_same(mmod.detect_mmod(image, resize="dlib", device="cpu"), theirs, "mosaic, resize=dlib")
    _assert_same(detect.detect(image, "mmod"), theirs, "detect.detect(mosaic, 'mmod')")
    as_tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    _assert_same(detect.detect(as_tensor, "mmod"), theirs, "detect.detect(float tensor, 'mmod')")


def test_upsample_matches_dlib(photos, dlib_cnn):
    """``upsample=1``: dlib doubles the photo with pyramid_up and maps the boxes back."""
    for name in ("000180-320", "group-480"):
        small = np.array(Image.fromarray(photos[name]).resize(
            (photos[name].shape[1] // 2, photos[name].shape[0] // 2), Image.BILINEAR))
        theirs = _dlib_detections(dlib_cnn, small, 1)
        assert theirs, f"{name}: dlib found no face at half size with upsample=1"
        _assert_same(mmod.detect_mmod(small, upsample=1, device="cpu"), theirs, f"{name} upsample=1")


def test_dlib_resize_emulation_matches_dlib_resize_image():
    """resize="dlib" reproduces dlib's float bilinear resize (the pyramid's), F.interpolate drifts."""
    rng = np.random.default_rng(0)
    for height, width in [(266, 177), (60, 700), (12, 9)]:
        plane = rng.random((height, width), dtype=np.float32) - 0.5
        rows, cols = int(5 / 6 * height), int(5 / 6 * width)
        reference = dlib.resize_image(plane, rows, cols)
        ours = mmod._resize_dlib(torch.from_numpy(plane)[None, None], rows, cols)[0, 0].numpy()
        assert np.abs(ours - reference).max() < 1e-6
        plain = mmod._resize(torch.from_numpy(plane)[None, None], rows, cols, "torch")[0, 0].numpy()
        assert np.abs(plain - reference).max() < 5e-3


# ------------------------------------------------------------------------------------------------
# the pieces


def test_pyramid_rects_layout():
    rects, rows, cols = mmod.pyramid_rects(720, 1200)
    assert (len(rects), rows, cols) == (26, 2644, 1222)  # the format notes' example
    assert mmod._output_size(rows) == 327
    assert rects[0] == (11, 11, 1210, 730)
    for (l0, t0, r0, b0), (l1, t1, r1, b1) in zip(rects, rects[1:]):
        assert (b1 - t1 + 1, r1 - l1 + 1) == (int(5 / 6 * (b0 - t0 + 1)), int(5 / 6 * (r0 - l0 + 1)))
    for i, a in enumerate(rects):
        assert 0 <= a[0] <= a[2] < cols and 0 <= a[1] <= a[3] < rows
        for b in rects[i + 1:]:
            assert not mmod._intersects(a, b)
    assert min(b - t + 1 for _, t, _, b in rects) >= mmod.MIN_LEVEL_HEIGHT


def test_pyramid_canvas_levels():
    image = torch.rand(3, 60, 90)
    canvas, rects = mmod.pyramid_canvas(image, device="cpu")
    means = mmod.mmod_net("cpu").means.view(3, 1, 1)
    left, top, right, bottom = rects[0]
    assert canvas.shape == (3, *mmod.pyramid_rects(60, 90)[1:])
    assert torch.allclose(canvas[:, top:bottom + 1, left:right + 1], (image * 255 - means) / 256, atol=1e-6)
    l1, t1, r1, b1 = rects[1]
    level1 = torch.nn.functional.interpolate(canvas[None, :, top:bottom + 1, left:right + 1],
                                             size=(b1 - t1 + 1, r1 - l1 + 1), mode="bilinear",
                                             align_corners=True)[0]
    assert torch.allclose(canvas[:, t1:b1 + 1, l1:r1 + 1], level1, atol=1e-6)
    outside = torch.ones(canvas.shape[1:], dtype=torch.bool)
    for l, t, r, b in rects:
        outside[t:b + 1, l:r + 1] = False
    assert canvas[:, outside].abs().max() == 0  # padding is the mean colour


def test_net_deterministic_and_batched():
    net = mmod.mmod_net("cpu")
    assert net is mmod.mmod_net(torch.device("cpu"))  # cached per device
    assert sum(p.numel() for p in net.parameters()) + sum(
        b.numel() for n, b in net.named_buffers() if n != "means") == 181141
    canvas = torch.randn(2, 3, 120, 100)
    with torch.no_grad():
        first, second = net(canvas), net(canvas)
        single = net(canvas[1:])
    assert first.shape == (2, 1, mmod._output_size(120), mmod._output_size(100))
    assert torch.equal(first, second)
    assert torch.allclose(first[1:], single, atol=1e-5)


def test_gradients_reach_the_pixels():
    image = torch.rand(3, 64, 80, requires_grad=True)
    for resize in ("torch", "dlib"):
        image.grad = None
        scores, rects = mmod.score_map(image, resize=resize)
        assert scores.ndim == 2 and len(rects) > 1
        scores.sum().backward()
        grad = image.grad
        assert grad.shape == image.shape and torch.isfinite(grad).all()
        assert (grad != 0).float().mean() > 0.9, "gradient misses most pixels"


def test_faceness_of_faces_and_shuffled_pixels(chips):
    images = torch.from_numpy(chips[:4]).permute(0, 3, 1, 2).float() / 255
    generator = torch.Generator().manual_seed(0)
    shuffled = images.flatten(2)[:, :, torch.randperm(192 * 192, generator=generator)].reshape(images.shape)
    images.requires_grad_(True)
    face_scores = mmod.faceness(images)
    noise_scores = mmod.faceness(shuffled)
    assert face_scores.shape == (4,)
    assert (face_scores > 0).all(), face_scores  # the detector sees each face
    assert (face_scores > noise_scores).all(), (face_scores, noise_scores)
    assert (noise_scores < 0).all(), noise_scores
    face_scores.sum().backward()
    assert images.grad.abs().sum() > 0
    # one chip alone gives its batched value
    assert torch.allclose(mmod.faceness(images[1:2].detach()), face_scores[1:2].detach(), atol=1e-5)


def test_decode_synthetic_score_map():
    rects, rows, cols = mmod.pyramid_rects(200, 160)
    height, width = mmod._output_size(rows), mmod._output_size(cols)
    scores = torch.full((height, width), -1.0)
    # a cell whose window centre (8 c + 14, 8 r + 14) lies inside level 0
    scores[5, 6] = 2.0
    scores[5, 7] = 1.5  # its neighbour: suppressed by NMS
    scores[18, 6] = 0.5  # far away: kept
    found = mmod.decode(scores, rects)
    x, y = 8 * 6 + 14 - 11, 8 * 5 + 14 - 11  # in photo pixels (outer padding 11)
    assert found[0] == detect.Detection(x - 39, y - 39, x + 41, y + 41, 2.0)  # lround(x - 39.5) = x - 39
    assert [d.score for d in found] == [2.0, 0.5]
    assert mmod.decode(scores, rects, threshold=1.0) == found[:1]
    assert mmod.decode(scores, rects, threshold=3.0) == []
    assert mmod.decode(scores[None, None].numpy(), rects) == found


def test_threshold_finds_more(photos):
    image = photos["000988-320"]
    assert mmod.detect_mmod(image, device="cpu") == []
    scores, _ = mmod.score_map(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
    threshold = float(scores.max()) - 0.5
    loose = mmod.detect_mmod(image, threshold=threshold, device="cpu")
    assert loose and all(d.score > threshold for d in loose)
    assert loose[0].score == pytest.approx(float(scores.max()), abs=1e-5)
    assert [d.score for d in loose] == sorted((d.score for d in loose), reverse=True)


# ------------------------------------------------------------------------------------------------
# bad input


def test_bad_input():
    photo = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        mmod.detect_mmod(photo.astype(np.float32))
    with pytest.raises(TypeError, match="numpy"):
        mmod.detect_mmod(torch.zeros(3, 40, 50))
    with pytest.raises(ValueError, match="RGB"):
        mmod.detect_mmod(photo[:, :, 0])
    with pytest.raises(ValueError, match="upsample"):
        mmod.detect_mmod(photo, upsample=-1)
    with pytest.raises(ValueError, match="upsample"):
        mmod.detect_mmod(photo, upsample=True)
    with pytest.raises(ValueError, match="upsample"):
        mmod.detect_mmod(photo, upsample=3)
    with pytest.raises(TypeError, match="threshold"):
        mmod.detect_mmod(photo, threshold="high")
    with pytest.raises(ValueError, match="resize"):
        mmod.detect_mmod(photo, resize="nearest")
    with pytest.raises(ValueError, match="too small"):
        mmod.detect_mmod(np.zeros((4, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="upsample"):
        detect.detect(photo, "mmod", upsample=3)
    with pytest.raises(TypeError, match="float"):
        mmod.score_map(torch.zeros(3, 40, 50, dtype=torch.uint8))
    with pytest.raises(TypeError, match="tensor"):
        mmod.score_map(np.zeros((3, 40, 50), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mmod.score_map(torch.full((3, 40, 50), 2.0))
    with pytest.raises(ValueError, match="shape"):
        mmod.pyramid_canvas(torch.zeros(40, 50))
    with pytest.raises(ValueError, match="chips"):
        mmod.faceness(torch.zeros(3, 40, 40))
    with pytest.raises(ValueError, match="empty"):
        mmod.faceness(torch.zeros(0, 3, 40, 40))
    with pytest.raises(ValueError, match="scores"):
        mmod.decode(torch.zeros(2, 5, 5), [(11, 11, 50, 50)])
    with pytest.raises(ValueError, match="canvas"):
        mmod.mmod_net("cpu")(torch.zeros(1, 1, 64, 64))
    with pytest.raises(FileNotFoundError):
        mmod.MMODNet.from_file("/nonexistent/mmod.dat")


def test_registered_as_detector():
    assert "mmod" in detect.DETECTOR_PARAMS
    names = [p.name for p in detect.DETECTOR_PARAMS["mmod"]]
    assert names == ["threshold", "upsample"]
