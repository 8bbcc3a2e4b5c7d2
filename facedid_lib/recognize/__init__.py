"""Face recognizers: what one is (:mod:`~facedid_lib.recognize.protocol`), the course's five built
on a gallery (:mod:`~facedid_lib.recognize.course`), and the networks behind them (Model A and
Model B, dlib's ResNet descriptor, the compiled dlib black box, SFace)."""

from facedid_lib.recognize.course import *  # noqa: F401,F403
from facedid_lib.recognize.course import __all__ as _course
from facedid_lib.recognize.protocol import *  # noqa: F401,F403
from facedid_lib.recognize.protocol import __all__ as _protocol

__all__ = [*_protocol, *_course]
