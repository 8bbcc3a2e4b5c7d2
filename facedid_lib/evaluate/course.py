"""What most chapters set up before they measure: the two trained recognizers the attacks see
(Model A and Model B, from the zoo), the paper's split at the chips' size, and the five recognizers
of the course built on the training split's clean photos as their gallery.

>>> # skipped: it trains Model A and Model B the first time (minutes on a CPU)
>>> course = setup(device="cpu", progress=False)  # doctest: +SKIP
>>> list(course.recognizers)  # doctest: +SKIP
['Model A', 'Model B', 'dlib gallery', 'dlib black box', 'SFace']
"""

from __future__ import annotations

import dataclasses

from facedid_lib.data.facesets import FaceSet
from facedid_lib.data.splits import paper_splits
from facedid_lib.recognize.course import course_recognizers
from facedid_lib.recognize.recognizers import Trained, model_a, model_b


@dataclasses.dataclass
class Course:
    """``model_a``, ``model_b``: the trained recognizers (:class:`~facedid_lib.recognize.recognizers.Trained`);
    ``train``, ``val``, ``test``: the paper's split at the chips' size; ``recognizers``: title ->
    recognizer, the course's five (:func:`~facedid_lib.recognize.course_recognizers`, gallery = ``train``)."""

    model_a: Trained
    model_b: Trained
    train: FaceSet
    val: FaceSet
    test: FaceSet
    recognizers: dict


def setup(size: int = 192, device=None, progress: bool = True, recognizers: bool = True) -> Course:
    """Model A and Model B (trained once, then loaded from the cache), the paper's split at ``size``
    pixels, and (with ``recognizers``) the course's five recognizers on the training split.

    The chapters' first cell of measures calls this, in this order, so that every chapter measures
    against the same networks and galleries.
    """
    a = model_a(device=device, progress=progress)
    b = model_b(device=device, progress=progress)
    train, val, test = paper_splits(size)
    found = course_recognizers(a, b, train) if recognizers else {}
    return Course(a, b, train, val, test, found)


__all__ = ["Course", "setup"]
