"""One harness for every chapter (:mod:`~facedid_lib.evaluate.harness`: a method + a face set ->
utility and privacy in one table) and the chapters' attack and defence tables
(:mod:`~facedid_lib.evaluate.tables`), chapter 2's sweep of every classical method
(:mod:`~facedid_lib.evaluate.sweeps`), the set-up most chapters share
(:func:`~facedid_lib.evaluate.course.setup`), chapter 1's detectors against the counted faces
(:mod:`~facedid_lib.evaluate.detection`), de-detection's AP and recall at IoU 0.5
(:mod:`~facedid_lib.evaluate.dedetection`), what the command's adversarial protection holds against
(:mod:`~facedid_lib.evaluate.protection`), chapter 2's k-Same bound
(:mod:`~facedid_lib.evaluate.ksame`) and the threat models that put every method under the same
attackers (:mod:`~facedid_lib.evaluate.threats`)."""

from facedid_lib.evaluate.harness import *  # noqa: F401,F403
from facedid_lib.evaluate.harness import __all__ as _harness
from facedid_lib.evaluate.tables import *  # noqa: F401,F403
from facedid_lib.evaluate.tables import __all__ as _tables
from facedid_lib.evaluate.sweeps import *  # noqa: F401,F403
from facedid_lib.evaluate.sweeps import __all__ as _sweeps

from facedid_lib.evaluate import course, dedetection, detection, hiding, ksame, protection, threats  # noqa: E402,F401  (submodules: evaluate.ksame.bound_table)

__all__ = [*_harness, *_tables, *_sweeps]
