"""One harness for every chapter (:mod:`~facedid_lib.evaluate.harness`: a method + a face set ->
utility and privacy in one table) and the chapters' attack and defence tables
(:mod:`~facedid_lib.evaluate.tables`)."""

from facedid_lib.evaluate.harness import *  # noqa: F401,F403
from facedid_lib.evaluate.harness import __all__ as _harness
from facedid_lib.evaluate.tables import *  # noqa: F401,F403
from facedid_lib.evaluate.tables import __all__ as _tables

__all__ = [*_harness, *_tables]
