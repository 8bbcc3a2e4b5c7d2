"""Detectors by name: the registry, their parameters, and :func:`detect`.

Every detector usable by name (``detector="hog"`` anywhere in the library, ``--detector`` on the
command line, the widgets' menus, the benchmark, the de-detection attacks) is an entry of
:data:`DETECTORS`: HOG (:mod:`~facedid_lib.detect.dlib_hog`) and Haar (:mod:`~facedid_lib.detect.haar`)
are registered when :mod:`facedid_lib.detect` is imported, MMOD (:mod:`~facedid_lib.detect.mmod`)
and YuNet (:mod:`~facedid_lib.detect.yunet`) lazily, by import path, when first asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Sequence

import numpy as np

from facedid_lib.core import params as _params
from facedid_lib.core.params import Param
from facedid_lib.core.registry import Registry, UnknownName
from facedid_lib.detect import tiles
from facedid_lib.detect.base import Detections, Detector, FunctionDetector
from facedid_lib.io.images import check_photo, to_uint8

__all__ = ["DETECTORS", "DETECTOR_PARAMS", "UNION", "register_detector", "detector_names", "detector_params",
           "get_detector", "union_parts", "detect", "run_detector"]

#: Every detector by name: :class:`~facedid_lib.detect.base.Detector` objects.
#: (:mod:`facedid_lib.detect` registers "haar" and "hog", then declares "mmod" and "yunet" lazily.)
DETECTORS = Registry("detector")


def register_detector(name: str, detector=None, params: Sequence[Param] = (), *, kind: str | None = None,
                      sensitive: dict | None = None):
    """Add (or replace) a detector usable by name everywhere a ``detector`` argument is taken.

    Parameters
    ----------
    name : the detector's name, e.g. ``"mmod"`` (lowercase kebab-case).
    detector : a :class:`~facedid_lib.detect.base.Detector` subclass (it is instantiated) or
        object, or a function ``fn(image, **params) -> list[Detection]`` on an (H, W, 3) uint8 RGB
        array; None: a decorator that registers the class or function it decorates.
    params : a function's :class:`~facedid_lib.core.params.Param` declarations (defaults, ranges,
        meaning); a Detector declares its own.
    kind : a function's kind of object (default ``"face"``).
    sensitive : a function's parameters that find more faces (:attr:`Detector.sensitive`).

    Returns
    -------
    ``detector`` as given (so that it can be used as a decorator).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")

    def add(given):
        if isinstance(given, type) and issubclass(given, Detector):
            entry = given()
        elif isinstance(given, Detector):
            entry = given
        elif callable(given):
            entry = FunctionDetector(given, params, kind or "face", sensitive)
        else:
            raise TypeError(f"detector must be a Detector or a callable, got {type(given).__name__}")
        if not all(isinstance(p, Param) for p in entry.params):
            raise TypeError("params must be a sequence of facedid_lib.core.params.Param")
        unknown = set(entry.sensitive) - {p.name for p in entry.params}
        if unknown:
            raise ValueError(f"sensitive names parameters that detector {name!r} does not have: {sorted(unknown)}")
        if UNION in name:
            raise ValueError(f"a detector's name cannot contain {UNION!r}: it joins the names of a union")
        if kind is not None and entry.kind != kind:
            raise ValueError(f"detector {name!r} finds {entry.kind!r}, not {kind!r}")
        try:
            DETECTORS.register(name, entry)
        except ValueError:  # registered before: replaced
            DETECTORS[name] = entry
        return given

    return add if detector is None else add(detector)


#: Joins detector names into a union: ``"yunet+mmod"`` runs both and merges the faces they share.
UNION = "+"


def union_parts(detector: str) -> tuple[str, ...]:
    """The registered detectors that ``detector`` names: one, or the parts of a union ``"a+b"``.

    Raises :class:`~facedid_lib.core.registry.UnknownName` for an unknown part, ValueError for an
    empty or repeated one."""
    if not isinstance(detector, str) or not detector:
        raise UnknownName(f"detector must be one of {sorted(detector_names())} or a union such as 'yunet+mmod', "
                          f"got {detector!r}")
    parts = tuple(part.strip() for part in detector.split(UNION))
    if "" in parts or len(set(parts)) != len(parts):
        raise ValueError(f"a union of detectors names each detector once, e.g. 'yunet+mmod', got {detector!r}")
    for part in parts:
        get_detector(part)
    return parts


def detector_names() -> tuple[str, ...]:
    """Every detector usable by name: the built-in ones, those in their own modules, and any added
    by :func:`register_detector` (the command line and the explorers offer these)."""
    return DETECTORS.names()


def get_detector(detector: str) -> Detector:
    """The :class:`~facedid_lib.detect.base.Detector` registered as ``detector`` (loaded on first use).

    Raises
    ------
    :class:`~facedid_lib.core.registry.UnknownName` (a ValueError and a KeyError) listing the known names.
    """
    if not isinstance(detector, str) or detector not in DETECTORS:
        raise UnknownName(f"detector must be one of {sorted(detector_names())}, got {detector!r}")
    return DETECTORS[detector]


def detector_params(detector: str) -> list[Param]:
    """The parameters ``detector`` declares (a detector in its own module is loaded first)."""
    return list(get_detector(detector).params)


class _ParamsByName(Mapping):
    """Each detector's parameters by name, read from :data:`DETECTORS` (lazy ones loaded when asked)."""

    def __getitem__(self, name: str) -> list[Param]:
        try:
            return detector_params(name)
        except UnknownName as err:
            raise KeyError(name) from err

    def __iter__(self):
        return iter(detector_names())

    def __len__(self) -> int:
        return len(detector_names())

    def __repr__(self) -> str:
        return f"DETECTOR_PARAMS({', '.join(detector_names())})"


#: Each detector's parameters, for widgets, the command line and :func:`detect`'s checks.
DETECTOR_PARAMS: Mapping[str, list[Param]] = _ParamsByName()


def run_detector(image: np.ndarray, detector: str, given: dict, sensitive: bool = False) -> Detections:
    """``detector`` on an (H, W, 3) uint8 RGB array with the parameters ``given`` (checked, defaults
    filled in, over its :attr:`~facedid_lib.detect.base.Detector.sensitive` ones with ``sensitive``);
    a photo larger than :data:`~facedid_lib.detect.tiles.DETECT_TILE` is searched in tiles. Best
    score first; a union ``"a+b"``: see :func:`~facedid_lib.detect.union.merge`."""
    parts = union_parts(detector)
    if len(parts) > 1:
        if given:
            raise ValueError(f"a union of detectors ({detector!r}) takes no parameters: each part runs at its "
                             "defaults, or at its sensitive settings with sensitive=True")
        from facedid_lib.detect.union import merge

        return merge([run_detector(image, part, {}, sensitive) for part in parts])
    entry = get_detector(detector)
    given = {**entry.sensitive, **given} if sensitive else given
    kwargs = _params.resolve(list(entry.params), given, f"detector {detector!r}")
    run: Callable[[np.ndarray], Detections] = lambda part: entry(part, **kwargs)  # noqa: E731
    found = tiles.tiled(image, run) if max(image.shape[:2]) > tiles.DETECT_TILE else run(image)
    return found.best_first()


def detect(photo, detector: str = "hog", sensitive: bool = False, **params) -> Detections:
    """Find objects (faces, for the course's detectors) in a photo.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    detector : ``"hog"`` (dlib), ``"haar"`` (OpenCV), ``"mmod"`` (dlib's CNN, ported),
        ``"yunet"`` (OpenCV Zoo's CNN, with five landmarks), one added by :func:`register_detector`,
        or a union of them such as ``"yunet+mmod"`` (the faces of both, overlaps merged).
    sensitive : run at the detector's lower thresholds (:attr:`~facedid_lib.detect.base.Detector.sensitive`):
        more faces found, and more false ones.
    **params : the detector's parameters, see ``DETECTOR_PARAMS[detector]`` (none for a union).

    Returns
    -------
    :class:`~facedid_lib.detect.base.Detections` (a sequence of
    :class:`~facedid_lib.detect.base.Detection`), best score first; empty when there is none.

    Example
    -------
    >>> from facedid_lib.io.images import read_image
    >>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
    >>> [round(d.score, 1) for d in detect(photo, "haar", min_neighbors=3)]
    [9.1, 5.5, 3.7]
    """
    check_photo(photo)
    return run_detector(to_uint8(photo), detector, params, sensitive)
