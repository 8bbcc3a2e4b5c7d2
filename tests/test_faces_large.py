"""Large photos: windowed resampling, blending and tiled detection give what the whole photo gives."""

import numpy as np
import pytest
import torch

from facedid_lib.data import facesets as data
from facedid_lib import align, detect
from facedid_lib.align import chips as align_chips
from facedid_lib.align import paste
from facedid_lib.detect import tiles

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photo(data_folder):
    """A wild photo of the data folder with its aligned faces."""
    photos = data.wild_photos(data_folder / "wild", limit=4)
    for name, image in photos.items():
        found = align.align_faces(image, device="cpu")
        if len(found):
            return image, found
    pytest.skip("no wild photo with a face")


def test_windowed_chips_equal_the_whole_photos(photo, monkeypatch):
    image, found = photo
    for size in (192, 24):  # 24: the chip is far smaller than the face, sampled from the pyramid
        whole = align.extract_chips(image, found.transforms, size, "cpu")
        monkeypatch.setattr(align_chips, "WHOLE_PHOTO_PIXELS", 0)
        windowed = align.extract_chips(image, found.transforms, size, "cpu")
        monkeypatch.undo()
        assert torch.allclose(whole, windowed, atol=1e-4, rtol=0)
    outside = found.transforms[:1] + np.array([[0, 0, 1e5], [0, 0, 1e5]])
    monkeypatch.setattr(align_chips, "WHOLE_PHOTO_PIXELS", 0)
    assert float(align.extract_chips(image, outside, 32, "cpu").abs().max()) == 0  # black, as dlib's


def test_overlapping_windows_are_blended_in_one_buffer():
    box = ((0, 10, 0, 10), None)
    groups = paste._overlapping([box, None, ((5, 15, 5, 15), None), ((50, 60, 0, 10), None),
                                 ((12, 55, 2, 4), None)])
    assert groups == [[0, 2, 3, 4]]  # the last window joins the first two groups into one
    assert paste._overlapping([box, ((10, 20, 0, 10), None)]) == [[0], [1]]  # touching is not overlapping


def test_paste_back_of_overlapping_faces_rounds_once(photo):
    image, found = photo
    transforms = np.concatenate([found.transforms[:1], found.transforms[:1] + np.array([[0, 0, 9], [0, 0, 4]])])
    chips = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    both = align.paste_back(image, chips, transforms, device="cpu")
    # blending in floats, then rounding once: the same as blending the float photo and rounding at the end
    float_photo = torch.from_numpy(image).permute(2, 0, 1).double() / 255
    expected = align.paste_back(float_photo, chips.double(), transforms, device="cpu")
    expected = (expected * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(both.astype(int) - expected).max() <= 1 and (both != expected).mean() < 1e-3


def test_tiled_detection_finds_the_same_faces(photo, monkeypatch):
    image, found = photo
    whole = detect.detect(image, "hog")
    monkeypatch.setattr(tiles, "DETECT_TILE", max(image.shape[:2]) // 2)
    tiled = detect.detect(image, "hog")
    assert len(tiled) == len(whole)
    for d in whole:
        assert any(tiles._duplicate(d, t) for t in tiled)
