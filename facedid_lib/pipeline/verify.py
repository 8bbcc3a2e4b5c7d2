"""Check a de-identified photo: does a detector still find a face, does a recognizer still match?

The ``facedid --verify`` check, after every output is written and read back (JPEG and all):

- a detector **other than the one that found the faces** (:func:`verifier_for`: dlib's MMOD after
  YuNet, YuNet after anything else) searches the output: each face it finds that the covering
  missed, or that the covering left recognisable as a face, is named;
- **SFace** (:mod:`facedid_lib.recognize.sface`, a recognizer no method of the course was built
  against) compares each original face with the same place in the output: the chip cut at the
  same transform from both, aligned alike (``align="chip"``: the hidden face gives no landmarks),
  cosine similarity against OpenCV Zoo's threshold 0.363 for "the same person". A face whose
  similarity reaches it *still matches*.

Example
-------
>>> from facedid_lib.io.images import read_image
>>> from facedid_lib.methods import get
>>> from facedid_lib.pipeline import deidentify_photo
>>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
>>> new, found = deidentify_photo(photo, get("fill"), "yunet", cover="head", landmarks="auto")
>>> check = verify_photo(photo, new, found, verifier_for("yunet"))
>>> check.detector, check.faces_found, check.still_matching
('mmod', 0, 0)
>>> verify_photo(photo, photo, found, "mmod").still_matching   # the original matches itself
3
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facedid_lib.align.chips import AlignedFaces, extract_chips
from facedid_lib.detect import detect
from facedid_lib.detect.registry import union_parts

__all__ = ["VERIFIERS", "verifier_for", "Verification", "verify_photo", "VideoVerification", "verify_video"]

#: The detectors that can check an output, in order of preference: the first one that did not find the faces.
VERIFIERS = ("mmod", "yunet", "hog", "haar")


def verifier_for(detector: str) -> str:
    """The detector that checks the outputs of a run whose faces ``detector`` found (a name or a union)."""
    used = set(union_parts(detector))
    for name in VERIFIERS:
        if name not in used:
            return name
    raise ValueError(f"no detector is left to check the outputs of {detector!r}")


@dataclass
class Verification:
    """What :func:`verify_photo` found in one output: the ``detector`` that searched it, the boxes it
    still finds (``(x0, y0, x1, y1)``), and per original face SFace's cosine ``similarities`` with the
    output and the ``threshold`` they are held against."""

    detector: str
    boxes: list = field(default_factory=list)
    similarities: list = field(default_factory=list)
    threshold: float = 0.0

    @property
    def faces_found(self) -> int:
        return len(self.boxes)

    @property
    def still_matching(self) -> int:
        return sum(s >= self.threshold for s in self.similarities)

    @property
    def clean(self) -> bool:
        """No face found and none still matching."""
        return not self.faces_found and not self.still_matching

    def as_dict(self) -> dict:
        return {"detector": self.detector, "faces_found": self.faces_found,
                "boxes": [[round(float(v), 1) for v in box] for box in self.boxes],
                "still_matching": self.still_matching, "threshold": self.threshold,
                "similarities": [round(float(s), 4) for s in self.similarities]}


def verify_photo(original, new, found: AlignedFaces, detector: str, size: int = 192,
                 padding: float = 0.4) -> Verification:
    """Check the de-identified ``new`` photo against the ``original`` whose faces are ``found``.

    Parameters
    ----------
    original, new : (H, W, 3) uint8 RGB arrays (or (3, H, W) float tensors) of one size.
    found : the faces located in ``original`` (their transforms, at ``size`` and ``padding``).
    detector : the detector that searches ``new`` (:func:`verifier_for`).
    """
    from facedid_lib.recognize import sface

    boxes = [tuple(d[:4]) for d in detect(new, detector)]
    similarities = []
    if len(found):
        before = extract_chips(original, found.transforms, size, device="cpu")
        after = extract_chips(new, found.transforms, size, device="cpu")
        a = sface.embed(before, padding, align="chip")
        b = sface.embed(after, padding, align="chip")
        similarities = [float(s) for s in np.asarray((a * b).sum(1))]
    return Verification(detector, boxes, similarities, sface.OPENCV_THRESHOLD)


@dataclass
class VideoVerification:
    """What :func:`verify_video` found in a written video: the ``detector`` that searched it, the
    number of ``frames`` read, and per frame where it found a face the boxes (``(x0, y0, x1, y1)``)."""

    detector: str
    frames: int = 0
    found: dict = field(default_factory=dict)

    @property
    def faces_found(self) -> int:
        return sum(len(boxes) for boxes in self.found.values())

    @property
    def clean(self) -> bool:
        """No face found in any frame."""
        return not self.found

    def as_dict(self) -> dict:
        return {"detector": self.detector, "frames": self.frames, "faces_found": self.faces_found,
                "frames_with_faces": sorted(self.found),
                "boxes": {str(t): [[round(float(v), 1) for v in box] for box in boxes]
                          for t, boxes in sorted(self.found.items())}}


def verify_video(path, detector: str) -> VideoVerification:
    """Search every frame of the de-identified video at ``path`` with ``detector`` (:func:`verifier_for`),
    as the ``facedid --verify`` check of a video. The frames are read one at a time. SFace's
    comparison with the original face (:func:`verify_photo`) is made for photos only: a video's
    faces move, and the check would need every frame's faces of the original.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from facedid_lib.io.video import VideoWriter
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with VideoWriter(Path(folder, "grey.mp4"), (64, 48), 5) as out:
    ...         for _ in range(3):
    ...             out.write(np.full((48, 64, 3), 128, np.uint8))
    ...     check = verify_video(Path(folder, "grey.mp4"), "yunet")
    >>> check.frames, check.clean
    (3, True)
    """
    from facedid_lib.io.video import read_frames

    check = VideoVerification(detector)
    for t, frame in enumerate(read_frames(path)):
        boxes = [tuple(d[:4]) for d in detect(frame, detector)]
        if boxes:
            check.found[t] = boxes
        check.frames += 1
    return check
