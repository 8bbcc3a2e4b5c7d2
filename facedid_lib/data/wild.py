"""The faces counted by eye in the course's offline wild photos (``wild/`` of the offline folder),
the ground truth that chapter 1 scores the detectors against.

Each face is given by its centre ``(x, y)`` in pixels; a detection hits a face when its box holds
the centre (:func:`facedid_lib.evaluate.detection.hits_and_false_alarms`).
"""

from __future__ import annotations

#: photo file name -> centres (x, y) of the faces counted by eye, 25 faces in 16 photos.
COUNTED_FACES: dict[str, list[tuple[int, int]]] = {
    "000180.jpg": [(204, 329)], "000825.jpg": [(193, 228)], "000988.jpg": [(206, 87)],
    "001382.jpg": [(247, 161)], "002028.jpg": [(189, 147)], "002135.jpg": [(391, 126)],
    "027779.jpg": [(232, 218), (389, 251), (61, 201)], "058405.jpg": [(139, 78), (53, 44)],
    "060367.jpg": [(205, 170), (173, 507)], "077945.jpg": [(225, 52)],
    "084596.jpg": [(189, 218), (240, 44)], "103608.jpg": [(216, 305)],
    "105100.jpg": [(280, 91), (40, 242)], "138700.jpg": [(51, 110), (18, 164)],
    "160128.jpg": [(200, 181)], "198871.jpg": [(204, 118), (345, 277), (319, 272)],
}


def counted_faces(photos) -> dict[str, list[tuple[int, int]]] | None:
    """The counted faces of ``photos`` (names -> anything), or None where they are not the offline
    wild photos (on Colab they come from LFW, which nobody counted).

    >>> counted = counted_faces(dict.fromkeys(COUNTED_FACES))
    >>> sum(len(centres) for centres in counted.values()), counted_faces({"other.jpg": None})
    (25, None)
    """
    return dict(COUNTED_FACES) if set(photos) == set(COUNTED_FACES) else None


__all__ = ["COUNTED_FACES", "counted_faces"]
