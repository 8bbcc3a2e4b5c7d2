"""Photos and videos de-identified: locate every face, cover it (the aligned inner face, or the whole
head), check the result.

:mod:`~facedid_lib.pipeline.photos` (:func:`deidentify_photo` for one photo,
:func:`deidentify_photos` for a set of photos, per face or once on all faces for a whole-set
method such as k-Same), :mod:`~facedid_lib.pipeline.head` (:func:`cover_heads`: the whole head in
the photo, ``cover="head"``), :mod:`~facedid_lib.pipeline.verify` (:func:`verify_photo`: another
detector and SFace on the output) and :mod:`~facedid_lib.pipeline.video` (:func:`deidentify_video`:
every face followed by its track, one de-identification per person). The ``facedid`` command (:mod:`facedid_lib.cli`) runs :func:`deidentify_photos`.
"""

from facedid_lib.pipeline.head import cover_chip_heads, cover_heads, head_params
from facedid_lib.pipeline.photos import Deidentified, WholeSetFailed, deidentify_photo, deidentify_photos
from facedid_lib.pipeline.verify import Verification, VideoVerification, verifier_for, verify_photo, verify_video
from facedid_lib.pipeline.video import deidentify_video, draws_at_random, locate_tracks, track_faces, track_seed

__all__ = ["Deidentified", "WholeSetFailed", "deidentify_photo", "deidentify_photos", "deidentify_video",
           "locate_tracks", "track_seed", "track_faces", "draws_at_random", "cover_heads", "cover_chip_heads",
           "head_params", "Verification", "verifier_for", "verify_photo", "VideoVerification", "verify_video"]
