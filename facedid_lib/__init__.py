"""facedid_lib: the PyTorch library of the face de-identification course.

Modules: :mod:`config` (device, profile, seeding, folders), :mod:`data` (face sets),
:mod:`detect` (detectors), :mod:`align` (alignment, paste-back), :mod:`pipeline` (photos and
videos), :mod:`methods` (de-identification methods),
:mod:`plotting` and :mod:`widgets` (figures and live explorers).
"""

__version__ = "0.1.0"
