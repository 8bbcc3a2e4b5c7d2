"""The metrics as named objects, and the table columns they fill.

A :class:`Metric` has a registry key (kebab-case), the ``title`` that tables print, a ``kind``
(``"quality"``: a clean face and its de-identified version -> one number per face;
``"recognition"``, ``"detection"``: one column per recognizer or detector, ``"<title> <name>"``;
``"attribute"``: the share of faces that keep an attribute), and, for quality metrics, the
function. :data:`METRICS` holds them; the harness (:mod:`facedid_lib.evaluate.harness`) measures
the quality metrics it is asked for by key and names every column through these objects, and the
tables read a column back with :meth:`Metric.subject` instead of cutting strings.

>>> MR.column("Model A"), MR.subject("MR Model A"), MR.subject("SSIM")
('MR Model A', 'Model A', None)
>>> [metric.title for metric in quality_metrics(DEFAULT_QUALITY)]
['SSIM', 'L2', 'MSE']
>>> MR.columns(["n", "SSIM", "MR Model A", "MR SFace"])
{'Model A': 'MR Model A', 'SFace': 'MR SFace'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from facedid_lib.core.registry import Registry
from facedid_lib.metrics.quality import cw_ssim, l2_norm, mse, ssim

KINDS = ("quality", "recognition", "detection", "attribute")


@dataclass(frozen=True)
class Metric:
    """One metric: ``key`` (the registry's), ``title`` (the column, or the columns' prefix),
    ``kind`` (one of :data:`KINDS`), ``about`` (what it measures, and which way is better) and,
    for quality metrics, ``fn(new, clean) -> (N,)``."""

    key: str
    title: str
    kind: str
    about: str
    fn: Callable | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "quality") != (self.fn is not None):
            raise ValueError(f"{self.key}: a quality metric has a function, the others have none")

    def __call__(self, new, clean):
        """The quality metric of each face: ``fn(new, clean)``, ``(N,)``."""
        if self.fn is None:
            raise TypeError(f"{self.key} is measured per {self.kind}, not on a pair of faces")
        return self.fn(new, clean)

    @property
    def per_subject(self) -> bool:
        """Whether the metric has one column per recognizer, detector or attribute."""
        return self.kind != "quality"

    def column(self, subject: str | None = None) -> str:
        """The column's name: the title, followed by the recognizer's, detector's or attribute's name."""
        if self.per_subject != (subject is not None):
            raise ValueError(f"{self.key}: {'give' if self.per_subject else 'no'} subject for its column")
        return self.title if subject is None else f"{self.title} {subject}"

    def subject(self, column) -> str | None:
        """The recognizer, detector or attribute that ``column`` is about, or None for another column."""
        prefix = f"{self.title} "
        if self.per_subject and isinstance(column, str) and column.startswith(prefix) and len(column) > len(prefix):
            return column[len(prefix):]
        return None

    def columns(self, columns: Iterable) -> dict[str, str]:
        """``subject -> column`` for the columns of ``columns`` that this metric filled, in order."""
        return {s: c for c in columns if (s := self.subject(c)) is not None}


METRICS = Registry("metric")


def register(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` under its key, with its title as an alias."""
    METRICS.register(metric.key, metric, aliases=(metric.title,) if metric.title != metric.key else ())
    return metric


SSIM = register(Metric("ssim", "SSIM", "quality", "structural similarity to the clean face (Wang et al. "
                       "2004), in [0, 1]; higher keeps more of the image", ssim))
L2 = register(Metric("l2", "L2", "quality", "L2 norm of the change over all pixels and channels, in [0, 1] "
                     "units; lower is a smaller change", l2_norm))
MSE = register(Metric("mse", "MSE", "quality", "mean squared change per pixel and channel; lower is a smaller "
                      "change", mse))
CW_SSIM = register(Metric("cw-ssim", "CW-SSIM", "quality", "complex-wavelet structural similarity (Sampat et al. "
                          "2009): like SSIM, but insensitive to small shifts and rotations", cw_ssim))
MR = register(Metric("mr", "MR", "recognition", "misclassification rate of a recognizer on the de-identified "
                     "faces; higher hides more (a defended recognizer's rejections are no misses)"))
REJECTED = register(Metric("rejected", "rejected", "recognition", "share of faces a defended recognizer "
                           "rejects as adversarial"))
DETECTED = register(Metric("detected", "detected", "detection", "share of de-identified faces a detector "
                           "still finds; lower hides more"))
KEPT = register(Metric("kept", "kept", "attribute", "share of faces whose attribute (gender, mood, ...) the "
                       "method keeps; higher is more useful"))

#: The quality metrics every table of the harness measures unless told otherwise.
DEFAULT_QUALITY = ("ssim", "l2", "mse")


def quality_metrics(keys: Sequence[str]) -> list[Metric]:
    """The quality metrics named by ``keys`` (keys or titles), checked."""
    found = [METRICS[key] for key in keys]
    wrong = [m.key for m in found if m.kind != "quality"]
    if wrong:
        raise ValueError(f"not quality metrics (of a pair of faces): {wrong}")
    return found


__all__ = ["Metric", "METRICS", "KINDS", "register", "SSIM", "L2", "MSE", "CW_SSIM", "MR", "REJECTED", "DETECTED",
           "KEPT", "DEFAULT_QUALITY", "quality_metrics"]
