"""What the "Protect my photo" page does, without the page: privacy levels, the methods a person may
choose, one uploaded photo checked, protected as the ``facedid`` command protects it, measured, and
the results written without metadata.

A *privacy level* (:data:`LEVELS`) names what it protects against and maps to a method of the
registry and its parameters: the command's measured defaults for people and machines alike (the
whole head blurred or painted over), or an adversarial method against the detectors or the one
recognizer it attacks (:mod:`facedid_lib.methods.adversarial`), with the page saying what it does
not protect against. A person may also pick any method that works on a single photo with its
parameters, from the same declarations as the command's options (:func:`offered_methods`).

Each result is measured as the command's ``--verify`` measures it: does YuNet still find a face
in the written file, and does SFace still match each face to the original? Then the files are
written without metadata (:func:`facedid_lib.io.images.write_image`: pixels only).

Example
-------
>>> from facedid_lib.io.images import read_image
>>> photo = read_image(data_folder / "wild" / "058405.jpg")
>>> result = protect(photo, LEVELS[0].method, LEVELS[0].params, name="058405.jpg")
>>> result.faces, result.yunet_finds, result.sface_matches   # two faces, two false alarms (one still matches itself)
(4, 0, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from facedid_lib.io.images import JPEG_QUALITY, jpeg_round_trip, read_image, write_image

__all__ = ["Level", "LEVELS", "EXPERT", "MAX_PIXELS", "choice", "offered_methods", "check_upload", "protect", "Result",
           "write_results", "summary_rows"]

#: The largest photo the page takes (pixels): a 40-megapixel camera photo; larger ones are refused
#: before they are decoded (the command takes up to Pillow's guard, 89 megapixels).
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Level:
    """A privacy level: what it protects against (the page's label), the method, its command
    parameters, and what it leaves exposed."""

    label: str
    method: str
    params: dict = field(default_factory=dict)
    note: str = ""


#: The levels the page offers, strongest first; their numbers are the README's (16 wild photos).
LEVELS = (
    Level("People and every machine: blur the whole head", "blur", {},
          "the command's default: no detector of the course finds the faces, and the recognizers that never "
          "saw the people are at chance"),
    Level("People and every machine: paint the whole head black", "fill", {"colour": "black"},
          "nothing of the face is left"),
    Level("Face detectors (YuNet, MMOD) only: an invisible change", "hide-from-detectors", {},
          "people still see the face, and detectors it did not attack (HOG, Haar) still find it"),
    Level("One face recognizer (dlib) only: an invisible change", "p-fgvm", {},
          "people and detectors still see the face, and SFace, which it did not attack, still matches it"),
)


#: The page's last choice: a method and its parameters instead of a level.
EXPERT = "Choose a method and its parameters"


def choice(level: str, method: str | None = None, values: dict | None = None) -> tuple[str, dict]:
    """The method and its command parameters that a choice on the page stands for: a level of
    :data:`LEVELS` by its label, or :data:`EXPERT` with one of :func:`offered_methods` and its
    ``values`` (checked against the method's declarations, as the command checks its options).

    >>> choice(LEVELS[1].label)
    ('fill', {'colour': 'black'})
    >>> choice(EXPERT, "pixelate", {"face_block": 0.5})
    ('pixelate', {'face_block': 0.5})
    """
    from facedid_lib.core import params as _params
    from facedid_lib.methods import get

    if level != EXPERT:
        chosen = next((lv for lv in LEVELS if lv.label == level), None)
        if chosen is None:
            raise ValueError(f"no privacy level {level!r}; the levels: {[lv.label for lv in LEVELS]}")
        return chosen.method, dict(chosen.params)
    if method not in offered_methods():
        raise ValueError(f"{method!r} is not offered on the page; the methods: {offered_methods()}")
    _params.resolve(get(method).command_params(), dict(values or {}), method)  # a bad value is refused here
    return method, dict(values or {})


def offered_methods() -> list[str]:
    """The methods a person may choose on the page: those that work on one photo with nothing
    trained first (no ``needs``, not whole-set), in the registry's order."""
    from facedid_lib.methods import REGISTRY

    return [name for name, method in REGISTRY.items() if not method.needs and not method.whole_set]


def check_upload(path) -> np.ndarray:
    """An uploaded file as an (H, W, 3) uint8 photo, or ValueError with a message for a person:
    not an image, too many pixels (read from the header, before decoding), or unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path.name} is not an image this page can read (JPEG, PNG, WebP, TIFF, ...)") from err
    if width * height > MAX_PIXELS:
        raise ValueError(f"{path.name} has {width} x {height} = {width * height / 1e6:.0f} megapixels; the page takes "
                         f"photos of up to {MAX_PIXELS / 1e6:.0f} megapixels (the facedid command takes larger ones)")
    try:
        return read_image(path)
    except ValueError as err:
        raise ValueError(f"{path.name} could not be read: {err}") from err


@dataclass
class Result:
    """One protected photo: its name, the photo before, the protected photo (``new``) and the same as
    its JPEG file gives it back (``after``), and what was measured on that file."""

    name: str
    before: np.ndarray
    new: np.ndarray
    after: np.ndarray
    faces: int            #: faces YuNet found in the photo before
    yunet_finds: int      #: faces YuNet finds in the result
    sface_matches: int    #: faces SFace still matches to the original


def protect(photo: np.ndarray, method: str, params: dict | None = None, name: str = "photo",
            progress: Callable[[str], None] | None = None) -> Result:
    """Protect ``photo`` with the registered ``method`` (its command parameters ``params``) as
    ``facedid METHOD`` does at its defaults (YuNet finds the faces, the method covers its default
    region), and measure the result as the JPEG file will give it back."""
    from facedid_lib import pipeline
    from facedid_lib.align import locate_faces
    from facedid_lib.methods import get

    spec = get(method)
    if progress:
        progress(f"{name}: finding the faces")
    found = locate_faces(photo, "yunet", landmarks="auto")
    if progress:
        progress(f"{name}: {method} on {len(found)} face(s)")
    new, found = pipeline.deidentify_photo(photo, spec.for_command(spec.region), "yunet", cover=spec.region,
                                           landmarks="auto", found=found, **(params or {}))
    written = jpeg_round_trip(new, JPEG_QUALITY)
    check = pipeline.verify_photo(photo, written, found, "yunet")
    return Result(name, photo, new, written, len(found), check.faces_found, check.still_matching)


def write_results(results: list[Result], folder: Path) -> Path:
    """Every result as a JPEG without metadata in ``folder`` (its pixels are ``result.after``), zipped:
    the path of the zip."""
    import zipfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "protected.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for result in results:
            path = write_image(folder / f"{Path(result.name).stem}-protected.jpg", result.new)
            zipped.write(path, path.name)
    return archive


def summary_rows(results: list[Result]) -> list[list]:
    """The page's table: per photo the faces found, how many YuNet still finds, and how many
    SFace still matches to the original."""
    return [[r.name, r.faces, r.yunet_finds, r.sface_matches] for r in results]
