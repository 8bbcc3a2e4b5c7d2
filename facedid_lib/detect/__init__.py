"""Detectors of objects in photos, by name, under one protocol.

:mod:`~facedid_lib.detect.base` defines the protocol (:class:`Detector`: an image in,
:class:`Detections` out: boxes, scores, optional landmarks, the kind of object);
:mod:`~facedid_lib.detect.registry` the registry :data:`DETECTORS` and :func:`detect`;
:mod:`~facedid_lib.detect.tiles` the search of large photos in tiles. The detectors: dlib's HOG
(:mod:`~facedid_lib.detect.dlib_hog`), OpenCV's Haar cascade (:mod:`~facedid_lib.detect.haar`),
dlib's MMOD CNN ported to PyTorch (:mod:`~facedid_lib.detect.mmod`) and YuNet
(:mod:`~facedid_lib.detect.yunet`, with five landmarks); :mod:`~facedid_lib.detect.on_chips` makes
detectors on aligned chips for the harness.

Example
-------
>>> from facedid_lib import detect
>>> detect.detector_names()
('hog', 'haar', 'mmod', 'yunet')
>>> found = detect.detect(photo, "yunet")            # photo: a wild photo of the offline data, three faces
>>> found.kind, found.landmarks.shape
('face', (3, 5, 2))
"""

from facedid_lib.detect.base import Detection, Detections, Detector, FunctionDetector, match_faces
from facedid_lib.detect.registry import (DETECTOR_PARAMS, DETECTORS, detect, detector_names, detector_params,
                                         get_detector, register_detector)
# registry order: the library's default detector first (it orders menus and the de-detection table's columns)
from facedid_lib.detect import dlib_hog, haar  # noqa: F401  (register "hog", then "haar")

# detectors in modules of their own, imported when first asked for by name
DETECTORS.lazy("mmod", "facedid_lib.detect.mmod")
DETECTORS.lazy("yunet", "facedid_lib.detect.yunet")

from facedid_lib.detect.on_chips import chip_detectors, hog_detector, mmod_detector, mmod_faceness, yunet_detector

__all__ = ["Detection", "Detections", "Detector", "FunctionDetector", "match_faces", "DETECTORS", "DETECTOR_PARAMS",
           "detect", "detector_names", "detector_params", "get_detector", "register_detector",
           "chip_detectors", "hog_detector", "mmod_detector", "yunet_detector", "mmod_faceness"]
