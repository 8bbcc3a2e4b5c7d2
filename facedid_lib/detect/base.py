"""The detector protocol: a detector takes an image and returns :class:`Detections` of one kind.

A :class:`Detection` is one box and its score; :class:`Detections` is a detector's whole answer on
one image: ``boxes`` (N, 4), ``scores`` (N,), optional ``landmarks`` (N, K, 2) in a named
``scheme`` (the order and meaning of the K points, e.g. ``"arcface-5"``), and the ``kind`` of object
found (``"face"``; later ``"person"``, ``"plate"``). It is a sequence of :class:`Detection`, so code
that loops over boxes needs nothing else.

A detector is a :class:`Detector`: one class with its ``kind``, its parameters and a ``find``
method, registered by name with :func:`facedid_lib.detect.register_detector`::

    @register_detector("centre")
    class CentreBox(Detector):
        '''One box in the middle of the image, half its size.'''
        params = (Param("side", 0.5, "box side, a fraction of the image", low=0.1, high=1.0, step=0.05),)

        def find(self, image, side):
            height, width = image.shape[:2]
            return [Detection(width * (1 - side) / 2, height * (1 - side) / 2,
                              width * (1 + side) / 2, height * (1 + side) / 2, 1.0)]

Coordinates are photo pixels: ``x0 <= x < x1``, ``y0 <= y < y1``; integer coordinates are pixel
centres (dlib's and OpenCV's convention).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Callable, NamedTuple

import numpy as np

from facedid_lib.core.params import Param

__all__ = ["Detection", "Detections", "Detector", "FunctionDetector", "match_faces"]


class Detection(NamedTuple):
    """A box in photo pixels: ``x0 <= x < x1``, ``y0 <= y < y1`` (may reach outside the photo), and
    the detector's score (larger: more like the object; each detector has its own scale)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


class Detections(Sequence):
    """A detector's answer on one image: N boxes of one ``kind``, their scores, and optionally K
    landmarks per box.

    Parameters
    ----------
    boxes : (N, 4) ``(x0, y0, x1, y1)`` in photo pixels.
    scores : (N,) the detector's scores.
    landmarks : (N, K, 2) ``(x, y)`` points in photo pixels, or None when the detector gives none.
    kind : what was found: ``"face"``, ``"person"``, ``"plate"``, ...
    scheme : the name of the landmarks' order and meaning (``"arcface-5"``: the subject's right eye,
        left eye, nose tip, right and left mouth corner); required with ``landmarks``.

    Indexing with an int gives a :class:`Detection`, with a slice or an index array a
    :class:`Detections`; it equals any sequence of the same :class:`Detection` values.
    """

    def __init__(self, boxes=(), scores=(), landmarks=None, kind: str = "face", scheme: str | None = None):
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes):
            raise ValueError(f"boxes and scores must have the same length, got {len(boxes)} and {len(scores)}")
        if landmarks is not None:
            landmarks = np.asarray(landmarks, dtype=np.float64)
            if landmarks.ndim != 3 or landmarks.shape[0] != len(boxes) or landmarks.shape[2] != 2:
                raise ValueError(f"landmarks must have shape ({len(boxes)}, K, 2), got {landmarks.shape}")
            if not scheme:
                raise ValueError("landmarks need their scheme (the name of their order, e.g. 'arcface-5')")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"kind must be a non-empty string such as 'face', got {kind!r}")
        self.boxes, self.scores, self.landmarks = boxes, scores, landmarks
        self.kind, self.scheme = kind, scheme if landmarks is not None else None

    @classmethod
    def of(cls, found, kind: str = "face") -> "Detections":
        """``found`` (a :class:`Detections`, or a list of :class:`Detection`) as :class:`Detections`."""
        if isinstance(found, Detections):
            return found
        found = list(found)
        if not all(isinstance(d, tuple) and len(d) == 5 for d in found):
            raise TypeError("a detector must return Detections or a list of Detection")
        return cls([d[:4] for d in found], [d[4] for d in found], kind=kind)

    @classmethod
    def concat(cls, parts: Sequence["Detections"], kind: str = "face") -> "Detections":
        """The detections of ``parts`` one after the other (all with landmarks of one scheme, or none)."""
        parts = list(parts)
        if not parts:
            return cls(kind=kind)
        schemes = {p.scheme for p in parts}
        marks = None
        if len(schemes) == 1 and None not in schemes:
            marks = np.concatenate([p.landmarks for p in parts])
        return cls(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]), marks,
                   parts[0].kind, parts[0].scheme if marks is not None else None)

    # sequence of Detection ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            x0, y0, x1, y1 = self.boxes[index]
            return Detection(float(x0), float(y0), float(x1), float(y1), float(self.scores[index]))
        return self.take(np.arange(len(self))[index])

    def __eq__(self, other) -> bool:
        if isinstance(other, Detections):
            same_marks = (self.landmarks is None and other.landmarks is None) or (
                self.landmarks is not None and other.landmarks is not None
                and np.array_equal(self.landmarks, other.landmarks))
            return (self.kind == other.kind and self.scheme == other.scheme and same_marks
                    and np.array_equal(self.boxes, other.boxes) and np.array_equal(self.scores, other.scores))
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        marks = "" if self.landmarks is None else f", {self.landmarks.shape[1]} landmarks ({self.scheme})"
        return f"Detections({len(self)} {self.kind}{marks}: {list(self)!r})"

    # new detections ----------------------------------------------------------------------------------
    def take(self, indices) -> "Detections":
        """The detections at ``indices`` (an int array), in that order."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        marks = None if self.landmarks is None else self.landmarks[indices]
        return Detections(self.boxes[indices], self.scores[indices], marks, self.kind, self.scheme)

    def best_first(self) -> "Detections":
        """Sorted by score, best first (stable: equal scores keep their order)."""
        return self.take(np.argsort(-self.scores, kind="stable"))

    def shifted(self, dx: float, dy: float) -> "Detections":
        """Moved by ``(dx, dy)`` pixels (boxes and landmarks): a tile's detections in the whole photo."""
        marks = None if self.landmarks is None else self.landmarks + np.array([dx, dy])
        return Detections(self.boxes + np.array([dx, dy, dx, dy]), self.scores, marks, self.kind, self.scheme)

    def scaled(self, factor: float) -> "Detections":
        """Divided by ``factor`` (boxes and landmarks): a shrunk copy's detections in the whole photo."""
        marks = None if self.landmarks is None else self.landmarks / factor
        return Detections(self.boxes / factor, self.scores, marks, self.kind, self.scheme)


class Detector(abc.ABC):
    """A detector of objects of one ``kind`` in (H, W, 3) uint8 RGB images.

    Subclasses set ``kind`` and ``params`` (their :class:`~facedid_lib.core.params.Param`
    declarations: defaults, ranges, meaning; the widgets and the command line offer them) and
    implement :meth:`find`; calling a detector returns :class:`Detections`. Register one with
    :func:`facedid_lib.detect.register_detector` to use it by name everywhere.
    """

    #: what it finds: "face", "person", "plate", ...
    kind: str = "face"
    #: its parameters, each passed to :meth:`find` as a keyword argument
    params: tuple[Param, ...] = ()
    #: the parameters that make it find more faces, false ones too (lower thresholds): what
    #: ``sensitive=True`` of :func:`~facedid_lib.detect.detect` and ``facedid --sensitive`` use
    sensitive: dict = {}

    #: the parameter of :meth:`find` that thresholds :meth:`score_map`'s scores (a face where a score
    #: reaches it), or None for a detector with no differentiable form
    score_param: str | None = None

    @property
    def differentiable(self) -> bool:
        """Whether the detector has a differentiable :meth:`score_map` (de-detection can attack it)."""
        return self.score_param is not None

    def score_map(self, images, device=None):
        """The detector as a differentiable function of the pixels: ``(N, 3, H, W)`` float RGB in
        [0, 1] -> ``(N, ...)`` scores of every place it looks at, on the scale of its
        :attr:`score_param` (a face where a score reaches that threshold). Detectors without one
        (HOG, Haar: not differentiable) raise NotImplementedError."""
        raise NotImplementedError(f"detector {type(self).__name__} has no differentiable score map")

    @abc.abstractmethod
    def find(self, image: np.ndarray, **params):
        """The objects in an (H, W, 3) uint8 RGB image: :class:`Detections` or a list of :class:`Detection`."""

    def __call__(self, image: np.ndarray, **params) -> Detections:
        return Detections.of(self.find(image, **params), self.kind)


class FunctionDetector(Detector):
    """A detector made of a function ``fn(image, **params) -> list[Detection]`` (or Detections)."""

    def __init__(self, fn: Callable, params=(), kind: str = "face", sensitive: dict | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if not all(isinstance(p, Param) for p in params):
            raise TypeError("params must be a sequence of facedid_lib.core.params.Param")
        self.fn, self.params, self.kind = fn, tuple(params), kind
        self.sensitive = dict(sensitive or {})

    def find(self, image: np.ndarray, **params):
        return self.fn(image, **params)

    def __repr__(self) -> str:
        return f"FunctionDetector({getattr(self.fn, '__name__', self.fn)!r}, kind={self.kind!r})"


def match_faces(detections, centres) -> tuple[int, int, int]:
    """Score detections against faces counted by hand, given by their centres ``(x, y)``.

    A detection is a hit when it contains the centre of a counted face not yet taken by a
    better-scoring detection; the other detections are false alarms.

    Returns
    -------
    (hits, false_alarms, missed)
    """
    free = [tuple(c) for c in centres]
    hits = 0
    for det in sorted(detections, key=lambda d: -d.score):
        inside = [c for c in free if det.x0 <= c[0] < det.x1 and det.y0 <= c[1] < det.y1]
        if inside:
            free.remove(inside[0])
            hits += 1
    return hits, len(detections) - hits, len(free)
