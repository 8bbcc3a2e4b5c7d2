"""Face detectors: dlib's MMOD CNN ported to PyTorch (:mod:`~facedid_lib.detect.mmod`), YuNet
(:mod:`~facedid_lib.detect.yunet`), and detectors on aligned chips for the harness
(:mod:`~facedid_lib.detect.on_chips`). HOG and Haar and the registry by name are in
:mod:`facedid_lib.faces`."""

from facedid_lib.detect.on_chips import *  # noqa: F401,F403
from facedid_lib.detect.on_chips import __all__ as __all__  # noqa: F401
