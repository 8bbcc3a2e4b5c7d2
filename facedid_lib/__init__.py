"""facedid_lib: the PyTorch library of the face de-identification course.

Modules: :mod:`config` (device, profile, seeding, folders), :mod:`data` (face sets),
:mod:`faces` (detection, alignment, paste-back), :mod:`methods` (de-identification methods),
:mod:`plotting` and :mod:`widgets` (figures and live explorers).
"""

__version__ = "0.1.0"
