"""Photos and videos de-identified: align every face, run a method on the chips, paste them back.

:mod:`~facedid_lib.pipeline.photos` (:func:`deidentify_photo` for one photo,
:func:`deidentify_photos` for a set of photos, per face or once on all faces for a whole-set
method such as k-Same) and :mod:`~facedid_lib.pipeline.video` (:func:`deidentify_video`, frame by
frame). The ``facedid`` command (:mod:`facedid_lib.cli`) runs :func:`deidentify_photos`.
"""

from facedid_lib.pipeline.photos import Deidentified, WholeSetFailed, deidentify_photo, deidentify_photos
from facedid_lib.pipeline.video import deidentify_video

__all__ = ["Deidentified", "WholeSetFailed", "deidentify_photo", "deidentify_photos", "deidentify_video"]
