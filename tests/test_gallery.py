"""Identification from embeddings (Gallery) and dlib itself as a black box, on the offline data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facedid_lib.core import memo
from facedid_lib.recognize.blackbox import DlibBlackBox
from facedid_lib.recognize.dlib_resnet import embed
from facedid_lib.recognize.gallery import Gallery


@pytest.fixture(scope="module")
def gallery(faceset):
    train, _ = faceset
    return Gallery(lambda x: embed(x, device="cpu"), train.images, train.labels, progress=False)


def test_gallery_identifies_held_out_photos(gallery, faceset):
    _, test = faceset
    logits = gallery(test.images)
    assert logits.shape == (len(test), 10) and (logits <= 0).all()
    accuracy = (gallery.predict(test.images) == test.labels).float().mean()
    assert accuracy >= 0.95  # measured: 1.0 (40 photos, 10 identities)
    # the logit of a class is minus the distance to its nearest gallery photo
    desc = embed(test.images[:3], device="cpu").detach()
    nearest = torch.cdist(desc, gallery.embeddings)[:, gallery.labels == 2].amin(1)
    torch.testing.assert_close(-logits[:3, 2].detach(), nearest, atol=1e-5, rtol=0)


def test_gallery_logits_are_differentiable(gallery, faceset):
    _, test = faceset
    images = test.images[:2].clone().requires_grad_()
    logits = gallery(images)
    torch.nn.functional.cross_entropy(logits, test.labels[:2]).backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_verify(gallery, faceset):
    _, test = faceset
    a, b = test.images[0::4][:6], test.images[1::4][:6]  # photos 0 and 1 of the first identities
    assert gallery.verify(a, b).all()
    assert not gallery.verify(a, b.roll(1, 0)).any()
    assert gallery.distance(a, a).abs().max() < 1e-5


def test_gallery_checks_its_input(faceset):
    train, _ = faceset
    with pytest.raises(ValueError, match="no gallery photo"):
        Gallery(lambda x: x.flatten(1), train.images[:2], torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="labels"):
        Gallery(lambda x: x.flatten(1), train.images[:2], torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="callable"):
        Gallery(None, train.images[:2], torch.tensor([0, 1]))


def test_dlib_black_box_identifies_held_out_photos(faceset):
    train, test = faceset
    box = DlibBlackBox(train.images, train.labels, progress=False)
    images = test.images.clone().requires_grad_()
    predicted = box.predict(images)
    assert predicted.dtype == torch.int64 and predicted.shape == (len(test),)
    assert not predicted.requires_grad
    assert (predicted == test.labels).float().mean() >= 0.95  # measured: 1.0


def test_dlib_black_box_threads_give_the_same_bits_as_one(faceset):
    """The chips go to two threads in runs of dlib's own batch: the same descriptors, in order."""
    train, test = faceset
    images = torch.cat([train.images, test.images])[:40]  # three runs of 16, 16 and 8 chips
    one = DlibBlackBox(train.images[:2], train.labels[:2], progress=False, workers=1)
    two = DlibBlackBox(train.images[:2], train.labels[:2], progress=False, workers=2)
    with memo.disabled():  # dlib itself runs each time, in one thread and in two
        assert (one.descriptors(images) == two.descriptors(images)).all()
    assert not (one.descriptors(images[:1]) == one.descriptors(images[1:2])).all()  # chips differ
    with pytest.raises(ValueError, match="workers"):
        DlibBlackBox(train.images[:2], train.labels[:2], progress=False, workers=0)


def test_dlib_black_box_remembers_each_chip_with_the_same_bits(faceset, tmp_path, monkeypatch):
    """A chip described before (in this process, or stored in the cache folder by another) is not
    described again, and its remembered descriptor equals a computed one: alone, in another batch."""
    from facedid_lib.recognize import blackbox

    train, test = faceset
    box = DlibBlackBox(train.images[:2], train.labels[:2], progress=False)
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    blackbox._remembered.cache_clear()
    calls = []
    original = DlibBlackBox._describe
    monkeypatch.setattr(DlibBlackBox, "_describe", lambda self, pixels: calls.append(len(pixels)) or
                        original(self, pixels))
    first = box.descriptors(test.images[:5])
    again = box.descriptors(torch.cat([test.images[3:5], test.images[:3]]))
    assert calls == [5] and (again == np.concatenate([first[3:5], first[:3]])).all()
    blackbox._remembered.cache_clear()  # a new process: the rows come from the cache folder
    assert (box.descriptors(test.images[:5]) == first).all() and calls == [5]
    with memo.disabled():
        assert (box.descriptors(test.images[4:5]) == first[4:5]).all() and calls == [5, 1]
    blackbox._remembered.cache_clear()
