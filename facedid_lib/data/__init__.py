"""Face sets, their splits and labels, and the sources' published numbers.

``from facedid_lib import data`` gives the face-set API of :mod:`facedid_lib.data.facesets`
(:func:`load_faces`, :class:`FaceSet`, :func:`split`, ...) and the faces counted by eye in the
wild photos and the sample clip's frames (:mod:`facedid_lib.data.wild`); the splits of the trained networks are
:mod:`facedid_lib.data.splits`, labels :mod:`facedid_lib.data.labels` and the papers' tables
:mod:`facedid_lib.data.published`.
"""

from facedid_lib.data.wild import (COUNTED_BOXES, COUNTED_FACES, clip_frames, counted_boxes,  # noqa: F401
                                   counted_faces, sample_clip)
from facedid_lib.data.facesets import (  # noqa: F401
    CHIP_SIZE, PAPER_SELECTION, FaceSet, at_size, load_faces, on_colab, split, split_sizes, wild_photos,
)

__all__ = ["FaceSet", "load_faces", "split", "split_sizes", "at_size", "wild_photos", "on_colab",
           "PAPER_SELECTION", "CHIP_SIZE", "COUNTED_FACES", "COUNTED_BOXES", "counted_faces", "counted_boxes",
           "sample_clip", "clip_frames"]
