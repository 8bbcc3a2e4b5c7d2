"""Photos de-identified: one pipeline for a photo, for a set of photos, per face or whole-set.

Every face is aligned to a chip (:func:`facedid_lib.align.align_faces`), the method runs on the
chips, the chips are pasted back (:func:`facedid_lib.align.paste_back`)::

    detect  ->  landmarks  ->  chip_transform  ->  extract_chips  ->  method  ->  paste_back

:func:`deidentify_photo` does it for one photo; :func:`deidentify_photos` for a set, either photo
by photo or, for a *whole-set* method (k-Same, which averages faces of different photos), once on
all faces of all photos; :func:`facedid_lib.pipeline.deidentify_video` frame by frame. The
``facedid`` command runs :func:`deidentify_photos` for every method.

Example
-------
>>> from facedid_lib.io.images import read_image
>>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
>>> hidden, found = deidentify_photo(photo, lambda chips: chips * 0)
>>> len(found), hidden.shape
(3, (640, 425, 3))
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from facedid_lib.align.chips import AlignedFaces, align_faces, extract_chips, locate_faces
from facedid_lib.align.paste import paste_back
from facedid_lib.core.checks import check_method_output
from facedid_lib.io.images import copy_photo
from facedid_lib.methods.registry import REGIONS
from facedid_lib.pipeline.head import cover_heads, head_params

__all__ = ["deidentify_photo", "deidentify_photos", "Deidentified", "WholeSetFailed"]


def deidentify_photo(photo, method: Callable, detector: str = "hog", size: int = 192,
                     padding: float = 0.4, detector_params: dict | None = None, feather: float = 0.15,
                     device=None, *, cover: str = "inner", landmarks: str = "dlib", sensitive: bool = False,
                     head_scale: float = 1.0, found: AlignedFaces | None = None, **method_params):
    """De-identify every face of a photo: align, run ``method`` once on all chips, paste back;
    or, with ``cover="head"``, cover each face's whole head in the photo (:mod:`~facedid_lib.pipeline.head`).

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    method : ``method(chips, **method_params) -> chips`` on (N, 3, size, size) tensors in [0, 1].
    detector, detector_params : which detector finds the faces, and its parameters.
    size, padding : the chips the method sees, see :func:`~facedid_lib.align.chip_transform`.
    feather : soft edge of the pasted faces, see :func:`~facedid_lib.align.face_mask` (with
        ``cover="head"``: of the head ellipse, a fraction of the face's width).
    device : where chips are made and the method runs (None: the photo tensor's device, or the
        library default for an array).
    cover : the region covered (``facedid --region``): ``"inner"`` (the aligned inner face, the
        method on chips) or ``"head"`` (the whole
        head, the method's head form in the photo; ``method`` must be a registered
        :class:`~facedid_lib.methods.Method` that has one, and ``method_params`` are its command's
        parameters: lengths as fractions of the face's width, see
        :meth:`~facedid_lib.methods.Method.command_params`).
    landmarks, sensitive : how faces are located, see :func:`~facedid_lib.align.align_faces`.
    head_scale : the head ellipse enlarged by this factor (``cover="head"``).
    found : the photo's faces, already located by :func:`~facedid_lib.align.locate_faces` with
        the same ``detector``, ``size``, ``padding``, ``landmarks`` and ``sensitive`` (None: located
        here); :func:`deidentify_photos` locates the next photos' faces while this one is covered.
    **method_params : passed to ``method``.

    Returns
    -------
    (new photo of the input's type, :class:`~facedid_lib.align.AlignedFaces` found); with no face, an unchanged copy.

    Example
    -------
    >>> from facedid_lib.io.images import read_image
    >>> from facedid_lib.methods.classical import gaussian_blur
    >>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
    >>> new, found = deidentify_photo(photo, gaussian_blur, sigma=6.0)
    >>> len(found), new.shape == photo.shape, bool((new != photo).any())
    (3, True, True)
    """
    if not callable(method):
        raise TypeError(f"method must be callable, got {type(method).__name__}")
    if cover not in REGIONS:
        raise ValueError(f"cover must be one of {REGIONS}, got {cover!r}")
    params = head_params(method, method_params) if cover == "head" else None
    if found is None:
        found = locate_faces(photo, detector, size, padding, landmarks=landmarks, sensitive=sensitive,
                             **(detector_params or {}))
    if cover == "head":
        return cover_heads(photo, found, method, params, size, padding, feather, head_scale, device), found
    if found.chips is None:
        found.chips = extract_chips(photo, found.transforms, size, device)
    if not len(found):
        return copy_photo(photo), found
    chips = found.chips
    new = check_method_output(method(chips, **method_params), chips)
    return paste_back(photo, new, found.transforms, padding, feather, device), found


@dataclass
class Deidentified:
    """One photo of :func:`deidentify_photos`: the caller's ``key``, the ``photo`` given, the faces
    ``found`` (None where the photo was too small to search), the ``new`` photo (None where no face
    was found: the photo is unchanged), or the ``error`` that stopped it (one of the types the
    caller asked to collect)."""

    key: Any
    photo: Any
    found: AlignedFaces | None = None
    new: Any = None
    error: Exception | None = None


class WholeSetFailed(ValueError):
    """A whole-set method refused the set of all faces (a ValueError: too few faces for k-Same, say);
    nothing was pasted back. ``faces`` and ``photos`` count what it was run on."""

    def __init__(self, method: str, faces: int, photos: int, error: Exception):
        super().__init__(f"{method} runs once on all faces of all photos and cannot run on the {faces} face(s) "
                         f"found in {photos} photo(s): {error}")
        self.faces, self.photos, self.error = faces, photos, error


def _searchable(photo, smallest: int) -> bool:
    height, width = (photo.shape[:2] if isinstance(photo, np.ndarray) else photo.shape[1:])
    return min(height, width) >= smallest


def _located_ahead(photos: Iterable, locate: Callable, searchable: Callable, ahead: int) -> Iterator[tuple]:
    """``(key, photo, future)`` in the order given, where ``future.result()`` is ``locate(photo)``
    (None for a photo that is not ``searchable``).

    With ``ahead`` > 0 one background thread locates the faces of up to ``ahead`` photos past the one
    yielded, so that the detector (OpenCV and dlib leave Python's lock while they run) works on the
    next photo while the caller covers and writes this one. The photos are read (``photos`` is
    consumed) in the caller's thread, one at a time; with ``ahead`` = 0 nothing runs in another thread.
    """
    def submit(pool, photo):
        if not searchable(photo):
            return _Done(None)
        return pool.submit(locate, photo) if pool is not None else _Done.of(locate, photo)

    pool = ThreadPoolExecutor(1, thread_name_prefix="facedid-locate") if ahead > 0 else None
    pending: deque = deque()
    try:
        for key, photo in photos:
            pending.append((key, photo, submit(pool, photo)))
            if len(pending) > ahead:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class _Done:
    """A finished future: the result or the exception of a call made at once."""

    def __init__(self, value=None, error: BaseException | None = None):
        self.value, self.error = value, error

    @classmethod
    def of(cls, function: Callable, *args) -> "_Done":
        try:
            return cls(function(*args))
        except Exception as err:  # raised again by result(), in the caller's frame
            return cls(error=err)

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


def deidentify_photos(photos: Iterable, method: Callable, whole_set: bool = False, detector: str = "hog",
                      size: int = 192, padding: float = 0.4, detector_params: dict | None = None,
                      feather: float = 0.15, device=None, smallest: int = 2, collect: tuple = (),
                      wanted: Callable[[Any], bool] | None = None,
                      progress: Callable[[Iterable, str], Iterable] | None = None, *, cover: str = "inner",
                      landmarks: str = "dlib", sensitive: bool = False, head_scale: float = 1.0,
                      ahead: int = 0, **method_params) -> Iterator[Deidentified]:
    """De-identify every face of a set of photos, per face or once on all faces of all photos.

    Per face (``whole_set=False``) each photo is de-identified by :func:`deidentify_photo` as it
    arrives and yielded at once. A whole-set method (``whole_set=True``: k-Same, whose output
    faces are averages over the set) first aligns every photo, then runs once on the chips of all
    faces, then pastes each photo's faces back, photo by photo, in the order given.

    Parameters
    ----------
    photos : iterable of ``(key, photo)`` pairs; the key is the caller's (a path, a job) and comes
        back with the result. It is consumed lazily, one photo at a time.
    method : ``method(chips, **method_params) -> chips`` on (N, 3, size, size) tensors in [0, 1].
    whole_set : run ``method`` once on all faces of all photos.
    detector, detector_params, size, padding, feather, device : as for :func:`deidentify_photo`
        (a whole-set run uses the detector's default parameters unless ``detector_params`` are given).
    smallest : photos with a side under this many pixels are not searched (``found`` None).
    collect : exception types that fail one photo (yielded as its ``error``) instead of the run.
    wanted : for a whole-set method, asked once per photo after the method ran, before its faces
        are pasted back; a photo it declines is not pasted and not yielded (the ``facedid`` command
        skips outputs that exist).
    progress : ``progress(iterable, stage)`` wraps the second pass of a whole-set run (stage
        ``"writing"``), e.g. with a progress bar.
    cover, landmarks, sensitive, head_scale : as for :func:`deidentify_photo` (a whole-set method
        has no head form).
    ahead : per face, the faces of up to this many next photos are located in a background thread
        while the current one is de-identified (and written by the caller): the same results,
        faster where two cores are free (the ``facedid`` command uses 1 when it has 2 threads).
    **method_params : passed to ``method``.

    Yields
    ------
    :class:`Deidentified`, per photo: per face in the order given; for a whole-set method first
    the photos that failed to align (as they fail), then every other photo in the order given.

    Raises
    ------
    :class:`WholeSetFailed` when a whole-set method raises a ValueError on the set of all faces.
    """
    if not callable(method):
        raise TypeError(f"method must be callable, got {type(method).__name__}")
    collect = tuple(collect)
    located = dict(landmarks=landmarks, sensitive=sensitive)
    if not whole_set:
        if cover == "head":
            head_params(method, dict(method_params))  # a method without a head form fails before any photo
        def locate(photo):
            return locate_faces(photo, detector, size, padding, **located, **(detector_params or {}))

        for key, photo, future in _located_ahead(photos, locate, lambda p: _searchable(p, smallest), ahead):
            try:
                found = future.result()
                if found is None:
                    yield Deidentified(key, photo)
                    continue
                new, found = deidentify_photo(photo, method, detector, size, padding, detector_params, feather,
                                              device, cover=cover, head_scale=head_scale, found=found,
                                              **located, **method_params)
            except collect as err:
                yield Deidentified(key, photo, error=err)
                continue
            yield Deidentified(key, photo, found, new if len(found) else None)
        return
    if cover != "inner":
        raise ValueError("a whole-set method works on aligned chips: cover must be 'inner'")
    aligned = []
    for key, photo in photos:
        try:
            found = (align_faces(photo, detector, size, padding, device, **located, **(detector_params or {}))
                     if _searchable(photo, smallest) else None)
        except collect as err:
            yield Deidentified(key, photo, error=err)
            continue
        aligned.append((key, photo, found))
    parts = [found.chips for _, _, found in aligned if found is not None and len(found)]
    if parts:  # with no face at all there is nothing to run the method on: every photo stays unchanged
        chips = torch.cat(parts)
        try:
            new = method(chips, **method_params)
        except ValueError as err:
            name = getattr(method, "name", getattr(method, "__name__", type(method).__name__))
            raise WholeSetFailed(name, len(chips), len(aligned), err) from err
    start = 0
    for key, photo, found in (progress or (lambda items, stage: items))(aligned, "writing"):
        count = 0 if found is None else len(found)
        start += count
        if wanted is not None and not wanted(key):
            continue
        if not count:
            yield Deidentified(key, photo, found)
            continue
        try:
            pasted = paste_back(photo, new[start - count:start], found.transforms, padding, feather, device)
        except collect as err:
            yield Deidentified(key, photo, found, error=err)
            continue
        yield Deidentified(key, photo, found, pasted)
