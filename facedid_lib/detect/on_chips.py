"""Detectors on aligned chips: ``chips -> (N,) bool`` (found a face or not), or a score per chip.

The harness (:mod:`facedid_lib.evaluate`) counts how often each still finds the face in a
de-identified chip; dlib's HOG, the ported MMOD CNN and YuNet.
"""

from __future__ import annotations

from typing import Callable

import torch

from facedid_lib import metrics
from facedid_lib.detect.registry import detect, detector_params
from facedid_lib.io.images import chips_to_uint8


def chip_detector(detector: str, **params) -> Callable:
    """``chips -> (N,) bool``: the registered ``detector`` (:data:`facedid_lib.detect.DETECTORS`)
    finds an object in the chip, run with ``params`` on each chip as uint8 RGB
    (:func:`~facedid_lib.io.images.chips_to_uint8`)."""
    detector_params(detector)  # an unknown name fails here, not on the first chips

    def detected(chips: torch.Tensor) -> torch.Tensor:
        return torch.tensor([len(detect(p, detector, **params)) > 0 for p in chips_to_uint8(chips)])

    return detected


def hog_detector(upsample: int = 0) -> Callable:
    """``chips -> (N,) bool``: dlib's HOG detector finds a face in the chip."""
    return chip_detector("hog", upsample=upsample)


def mmod_detector(threshold: float = 0.0) -> Callable:
    """``chips -> (N,) bool``: the ported MMOD CNN's faceness exceeds ``threshold``."""
    from facedid_lib.detect import mmod

    def detected(chips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (mmod.faceness(chips) > threshold).cpu()

    return detected


def yunet_detector(score_threshold: float = 0.6) -> Callable:
    """``chips -> (N,) bool``: YuNet (:mod:`facedid_lib.detect.yunet`) finds a face in the chip."""
    return chip_detector("yunet", score_threshold=score_threshold)


def mmod_faceness() -> Callable:
    """``chips -> (N,)`` float: the ported MMOD CNN's faceness (its best detection score) per chip."""
    from facedid_lib.detect import mmod

    def score(chips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return metrics.faceness(chips, mmod.faceness)

    return score


def chip_detectors(*names: str) -> dict:
    """``name -> chips -> (N,) bool`` for registered detectors, keyed by their registry names, which
    the harness's columns carry (``detected hog``): HOG, MMOD and YuNet with the settings of
    :func:`hog_detector`, :func:`mmod_detector` and :func:`yunet_detector`, any other through
    :func:`chip_detector` with its defaults.

    >>> list(chip_detectors("hog", "yunet"))
    ['hog', 'yunet']
    """
    made = {"hog": hog_detector, "mmod": mmod_detector, "yunet": yunet_detector}
    return {name: made[name]() if name in made else chip_detector(name) for name in names}


__all__ = ["chip_detector", "chip_detectors", "hog_detector", "mmod_detector", "yunet_detector", "mmod_faceness"]
