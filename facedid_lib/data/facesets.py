"""Face sets: the course's offline folder, CelebA (torchvision's layout) and LFW (scikit-learn).

Every source ends as the same kind of data: aligned face chips (dlib's 5-point alignment,
``dlib.get_face_chip(size=192, padding=0.4)``, as in the offline folder), resized to
``size x size`` and returned as a :class:`FaceSet` of ``N x 3 x size x size`` float tensors in
[0, 1] with contiguous labels.

Where the data comes from (:func:`load_faces`):

- ``FACEDID_DATA`` (or a path): the course's offline folder (``img_align/*.jpg`` +
  ``identity.csv``), or a CelebA folder in torchvision's layout (a folder that contains
  ``celeba/`` or is it, with ``img_align_celeba/*.jpg`` and ``identity_CelebA.txt``).
- ``source="celeba", download=True``: torchvision downloads CelebA into
  ``<FACEDID_CACHE>/celeba-data`` (or ``data_home``).
- ``source="lfw", download=True``: scikit-learn downloads LFW (funneled) into its data folder
  (``~/scikit_learn_data`` or ``data_home``).

CelebA's and LFW's photos are aligned with :func:`facedid_lib.align.align_largest`; photos where
no face is found are skipped (and replaced by another photo of the same identity where there is
one), with a warning. The decoded chips are cached under the cache folder
(:mod:`facedid_lib.core.cache`), so the second call with the same arguments is fast.

Example
-------
>>> from facedid_lib import data
>>> faces = data.load_faces(size=64, progress=False, **data.PAPER_SELECTION)
>>> train, val, test = data.split(faces, seed=0)
>>> faces, len(train), len(val), len(test)
(FaceSet(900 faces, 3x64x64, 30 classes, device=cpu), 630, 150, 120)
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from facedid_lib.core import cache, config
from facedid_lib.io.images import read_image

__all__ = ["FaceSet", "load_faces", "split", "split_sizes", "PAPER_SELECTION"]

#: The paper's selection: 30 CelebA identities with 30 photos each.
PAPER_SELECTION = dict(n_identities=30, per_identity=30)

#: The chip every source is turned into before resizing (the offline folder's chips).
CHIP_SIZE = 192
CHIP_PADDING = 0.4
CHIP_DETECTOR = "hog"

#: Threads that decode and resize JPEGs (PIL releases the GIL while it decodes and resizes).
DECODE_WORKERS = 2

_CACHE_VERSION = 1
_SOURCES = ("celeba", "lfw")

_HOW_TO_GET_DATA = """\
There are three ways to get face data:
  1. set FACEDID_DATA to the course's offline folder (img_align/ + identity.csv, e.g.
     ../shared/data/celeba_subset) or to a CelebA folder in torchvision's layout (a folder
     containing celeba/img_align_celeba/ and celeba/identity_CelebA.txt), or pass that path as
     load_faces(source=...);
  2. load_faces(source="celeba", download=True): torchvision downloads CelebA (about 1.4 GB,
     needs the package gdown) into <FACEDID_CACHE>/celeba-data (or data_home=...);
  3. load_faces(source="lfw", download=True): scikit-learn downloads LFW (about 250 MB) into
     ~/scikit_learn_data (or data_home=...)."""


# --------------------------------------------------------------------------------------------
# FaceSet
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(repr=False, eq=False)
class FaceSet:
    """A labelled set of aligned face chips.

    Attributes
    ----------
    images : torch.Tensor
        ``(N, 3, H, W)`` float32 in [0, 1].
    labels : torch.Tensor
        ``(N,)`` int64 class labels in ``0 .. n_classes - 1``, ordered by identity id.
    identities : torch.Tensor
        ``(N,)`` int64 original identity ids (CelebA's identity numbers; for LFW the index of the
        person in the sorted list of all LFW people). Always on the CPU.
    files : list of str
        The file name of every image (within its source's image folder).
    class_names : list of str, optional
        One name per class (LFW: the person's name; CelebA: the identity number as text).
        Default: the identity number of each label.

    A subset (:meth:`subset`, :func:`split`) keeps the label space of the set it came from, so
    ``n_classes`` is the number of classes of the whole set, and a classifier trained on one
    part scores the others.
    """

    images: torch.Tensor
    labels: torch.Tensor
    identities: torch.Tensor
    files: list[str]
    class_names: list[str] | None = None

    def __post_init__(self):
        if not isinstance(self.images, torch.Tensor) or not self.images.is_floating_point():
            raise TypeError("FaceSet.images must be a float tensor N x 3 x H x W in [0, 1]")
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"FaceSet.images must have shape N x 3 x H x W, got {tuple(self.images.shape)}")
        self.labels = torch.as_tensor(self.labels, dtype=torch.int64, device=self.labels.device
                                      if isinstance(self.labels, torch.Tensor) else None)
        self.identities = torch.as_tensor(self.identities, dtype=torch.int64).cpu()
        self.files = [str(f) for f in self.files]
        n = self.images.shape[0]
        if self.labels.shape != (n,) or self.identities.shape != (n,) or len(self.files) != n:
            raise ValueError(f"FaceSet: {n} images but labels {tuple(self.labels.shape)}, identities "
                             f"{tuple(self.identities.shape)} and {len(self.files)} files")
        if self.class_names is None:
            n_classes = int(self.labels.max()) + 1 if n else 0
            names = [""] * n_classes
            for label, ident in zip(self.labels.tolist(), self.identities.tolist()):
                names[label] = str(ident)
            self.class_names = names
        else:
            self.class_names = [str(c) for c in self.class_names]
            if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_names)):
                raise ValueError(f"FaceSet.labels must lie in 0..{len(self.class_names) - 1}")

    @property
    def n_classes(self) -> int:
        """The number of classes (identities) of the set this one belongs to."""
        return len(self.class_names)

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, indices) -> "FaceSet":
        """The faces at ``indices`` (ints or a boolean mask), with the same label space."""
        idx = torch.as_tensor(indices)
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise ValueError(f"a boolean mask must have shape ({len(self)},), got {tuple(idx.shape)}")
            idx = idx.nonzero().flatten()
        idx = idx.to(torch.int64).flatten().cpu()
        return FaceSet(images=self.images[idx.to(self.images.device)],
                       labels=self.labels[idx.to(self.labels.device)],
                       identities=self.identities[idx],
                       files=[self.files[i] for i in idx.tolist()],
                       class_names=list(self.class_names))

    def first_per_identity(self, k: int | None) -> "FaceSet":
        """The first ``k`` faces of every identity (all of them for ``k=None``): a smaller, balanced set."""
        if k is None:
            return self
        _check_count(k, "k", allow_none=False)
        labels = self.labels.cpu()
        return self.subset(torch.cat([torch.where(labels == c)[0][:k] for c in torch.unique(labels)]))

    def to(self, device) -> "FaceSet":
        """A copy with ``images`` and ``labels`` on ``device`` (identities stay on the CPU)."""
        return dataclasses.replace(self, images=self.images.to(device), labels=self.labels.to(device),
                                   files=list(self.files), class_names=list(self.class_names))

    def __repr__(self) -> str:
        h, w = self.images.shape[-2:]
        present = len(torch.unique(self.labels)) if len(self) else 0
        classes = f"{self.n_classes} classes" if present == self.n_classes else \
            f"{present} of {self.n_classes} classes"
        return f"FaceSet({len(self)} faces, 3x{h}x{w}, {classes}, device={self.images.device})"


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _check_count(value, name: str, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int{' or None' if allow_none else ''}, "
                        f"got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return int(seed)


# --------------------------------------------------------------------------------------------
# Sources and layouts
# --------------------------------------------------------------------------------------------


def _offline_layout(folder: Path) -> bool:
    return (folder / "img_align").is_dir() and (folder / "identity.csv").is_file()


def _celeba_folder_of(folder: Path) -> Path | None:
    """The folder with ``img_align_celeba/`` + ``identity_CelebA.txt``: ``folder`` or ``folder/celeba``."""
    for candidate in (folder, folder / "celeba"):
        if (candidate / "img_align_celeba").is_dir() and (candidate / "identity_CelebA.txt").is_file():
            return candidate
    return None


def _read_offline_table(folder: Path) -> dict[str, int]:
    """``{image: identity}`` from the offline folder's ``identity.csv``.

    A UTF-8 byte-order mark before the header is accepted. An image listed twice, or a path that is
    absolute or leaves ``img_align/`` (``../``), is refused with the file and the line named.
    """
    path = folder / "identity.csv"
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["image", "identity"]:
            raise ValueError(f"{path} must start with the header 'image,identity', got {header}")
        table, first_line = {}, {}
        for line, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            try:
                image, ident = row[0].strip(), int(row[1])
            except (IndexError, ValueError):
                raise ValueError(f"{path}, line {line}: expected 'image,identity', got {row}") from None
            name = os.path.normpath(image)
            parts = Path(name).parts
            if not parts or Path(name).anchor or parts[0] == os.pardir:
                raise ValueError(f"{path}, line {line}: the image {image!r} is not a file inside "
                                 f"{folder / 'img_align'} (empty, absolute, or leaving it with '..')")
            if name in table:
                raise ValueError(f"{path}, line {line}: the image {name!r} is listed twice (first on line "
                                 f"{first_line[name]})")
            table[name], first_line[name] = ident, line
    return table


def _read_celeba_table(folder: Path) -> dict[str, int]:
    path = folder / "identity_CelebA.txt"
    table = {}
    with open(path) as f:
        for line, text in enumerate(f, start=1):
            parts = text.split()
            if not parts:
                continue
            try:
                name, ident = parts
                table[name] = int(ident)
            except ValueError:
                raise ValueError(f"{path}, line {line}: expected '<image> <identity>', got {text!r}") from None
    return table


def _read_lfw_table(folder: Path) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """LFW: one folder per person. Identity = index of the person in the sorted list of all people
    (as scikit-learn's ``target_names`` with ``min_faces_per_person=0``)."""
    people = sorted(p for p in os.listdir(folder) if (folder / p).is_dir())
    table, where = {}, {}
    for ident, person in enumerate(people):
        for name in sorted(os.listdir(folder / person)):
            if (folder / person / name).is_file():
                table[name] = ident
                where[name] = f"{person}/{name}"
    return table, where, [p.replace("_", " ") for p in people]


def _celeba_download(data_home, download: bool) -> Path:
    root = Path(data_home).expanduser() if data_home is not None else config.cache_dir() / "celeba-data"
    folder = root / "celeba"
    if download or _celeba_folder_of(folder) is None:
        import torchvision

        try:
            torchvision.datasets.CelebA(root=str(root), split="all", target_type="identity",
                                        download=download)
        except RuntimeError as exc:
            hint = "" if download else " Pass download=True to download it (about 1.4 GB)."
            raise FileNotFoundError(f"no CelebA data in {folder} ({exc}).{hint}\n{_HOW_TO_GET_DATA}") from exc
    if _celeba_folder_of(folder) is None:
        raise FileNotFoundError(f"torchvision did not leave img_align_celeba/ and identity_CelebA.txt in "
                                f"{folder}\n{_HOW_TO_GET_DATA}")
    return folder


def _lfw_download(data_home, download: bool) -> Path:
    """The folder of LFW's funneled photos, downloaded by scikit-learn where missing.

    scikit-learn keeps LFW in ``<data_home>/lfw_home/``: ``pairsDevTrain.txt``,
    ``pairsDevTest.txt``, ``pairs.txt`` and ``lfw_funneled/<Person_Name>/<Person_Name>_0001.jpg``.
    Where that folder exists it is read directly. Otherwise ``fetch_lfw_people`` downloads and
    unpacks it; it is called on a 1 x 1 crop of every photo, because its own array of all 13,233
    photos at 250 x 250 in float32 would take 10 GB of memory: this module decodes only the
    photos it selects.
    """
    from sklearn.datasets import fetch_lfw_people, get_data_home

    home = Path(get_data_home(data_home=None if data_home is None else str(data_home)))
    folder = home / "lfw_home" / "lfw_funneled"
    if not folder.is_dir():
        try:
            fetch_lfw_people(data_home=str(home), funneled=True, color=True, resize=None,
                             slice_=(slice(0, 1), slice(0, 1)), min_faces_per_person=0,
                             download_if_missing=download)
        except OSError as exc:
            hint = "" if download else " Pass download=True to download it (about 250 MB)."
            raise FileNotFoundError(f"no LFW data in {home / 'lfw_home'} ({exc}).{hint}\n"
                                    f"{_HOW_TO_GET_DATA}") from exc
        if not folder.is_dir():
            raise FileNotFoundError(f"scikit-learn did not leave LFW's photos in {folder}")
    return folder


def _resolve(source, data_home, download):
    """-> (layout, image folder, {file: identity}, {file: path within the folder}, class names or None)."""
    if isinstance(source, str) and source.lower() in _SOURCES:
        if source.lower() == "celeba":
            folder = _celeba_download(data_home, download)
            return "celeba", folder / "img_align_celeba", _read_celeba_table(folder), None, None
        folder = _lfw_download(data_home, download)
        table, where, people = _read_lfw_table(folder)
        return "lfw", folder, table, where, people
    if data_home is not None:
        raise ValueError("data_home applies to source='celeba' or source='lfw' only")
    if download:
        raise ValueError("download=True applies to source='celeba' or source='lfw' only; "
                         f"source {str(source)!r} is a folder")
    if source is None:
        source = config.data_dir()
        if source is None and on_colab():
            return _resolve("lfw", data_home, True)
        if source is None:
            raise FileNotFoundError(f"no face data: FACEDID_DATA is not set and no source was given.\n"
                                    f"{_HOW_TO_GET_DATA}")
        origin = f"FACEDID_DATA={str(source)!r}"
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError(f"source must be None, 'celeba', 'lfw' or a folder path, got {type(source).__name__}")
        origin = f"source={str(source)!r}"
    folder = Path(source).expanduser()
    if not folder.is_dir():
        relative = "" if folder.is_absolute() else (
            f" A relative path is read from the working directory, here {Path.cwd()} (a notebook runs in "
            "its own folder): give an absolute path.")
        raise FileNotFoundError(f"the data folder {folder} ({origin}) does not exist.{relative}\n{_HOW_TO_GET_DATA}")
    if _offline_layout(folder):
        return "offline", folder / "img_align", _read_offline_table(folder), None, None
    celeba = _celeba_folder_of(folder)
    if celeba is not None:
        return "celeba", celeba / "img_align_celeba", _read_celeba_table(celeba), None, None
    raise FileNotFoundError(
        f"the data folder {folder} ({origin}) has neither the offline layout (img_align/ + "
        f"identity.csv) nor CelebA's (celeba/img_align_celeba/ + celeba/identity_CelebA.txt).\n"
        f"{_HOW_TO_GET_DATA}")


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------


def _select(table: dict[str, int], n_identities, per_identity, seed) -> list[tuple[int, list[str]]]:
    """Chosen identities (sorted) with their candidate photos in the order they are tried.

    Identities with at least ``per_identity`` photos are eligible; ``n_identities`` of them are
    drawn with ``np.random.default_rng(seed)`` and sorted. The photos of an identity are shuffled
    with ``np.random.default_rng([seed, identity])`` (independent of the other identities); the
    first ``per_identity`` are taken (the rest replace photos without a detectable face).
    """
    by_identity: dict[int, list[str]] = {}
    for name, ident in table.items():
        by_identity.setdefault(ident, []).append(name)
    need = per_identity or 1
    eligible = sorted(i for i, names in by_identity.items() if len(names) >= need)
    each = f" with {per_identity} photos each" if per_identity else ""
    if n_identities is not None:
        if len(eligible) < n_identities:
            have = f"only {len(eligible)} with >= {per_identity} photos" if per_identity else \
                f"only {len(eligible)}"
            raise ValueError(f"asked for {n_identities} identities{each}, the data has {have} "
                             f"({len(by_identity)} identities, {len(table)} photos in all)")
        rng = np.random.default_rng(seed)
        chosen = sorted(int(i) for i in rng.choice(np.array(eligible, dtype=np.int64), size=n_identities,
                                                   replace=False))
    else:
        chosen = eligible
    if not chosen:
        most = max((len(v) for v in by_identity.values()), default=0)
        raise ValueError(f"no identity has >= {need} photos (the data has {len(by_identity)} identities "
                         f"with at most {most} photos each)")
    out = []
    for ident in chosen:
        names = sorted(by_identity[ident])
        if per_identity is not None:
            order = np.random.default_rng([seed, ident % 2**63]).permutation(len(names))
            names = [names[j] for j in order]
        out.append((ident, names))
    return out


def _table_hash(table: dict[str, int]) -> str:
    text = "\n".join(f"{name},{ident}" for name, ident in sorted(table.items()))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _read_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB; a clear error naming the file when it cannot be read."""
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def _resize(chip: np.ndarray, size: int) -> np.ndarray:
    """``size x size`` with PIL's Lanczos filter (antialiased), as ``(3, size, size)`` uint8."""
    if chip.shape[0] != size or chip.shape[1] != size:
        chip = np.asarray(Image.fromarray(chip).resize((size, size), Image.Resampling.LANCZOS))
    return np.ascontiguousarray(chip.transpose(2, 0, 1))


def _decode_chips(paths: list[Path], size: int, bar) -> np.ndarray:
    """Decode and resize chips with a small thread pool; ``(N, 3, size, size)`` uint8."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)

    def work(i):
        out[i] = _resize(_read_rgb(paths[i]), size)
        return i

    if DECODE_WORKERS > 1 and len(paths) > 1:
        with ThreadPoolExecutor(DECODE_WORKERS) as pool:
            for _ in pool.map(work, range(len(paths))):
                bar.update(1)
    else:
        for i in range(len(paths)):
            work(i)
            bar.update(1)
    return out


def _align_chip(path: Path, size: int) -> np.ndarray | None:
    """Read a photo, align its largest face to a chip like the offline folder's, resize."""
    from facedid_lib.align import align_largest  # dlib: only where photos must be aligned

    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        photo = read_image(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # faces' own error: make sure it names the file
        if str(path) in str(exc):
            raise
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    chip = align_largest(photo, size=CHIP_SIZE, padding=CHIP_PADDING, detector=CHIP_DETECTOR)
    return None if chip is None else _resize(np.asarray(chip, dtype=np.uint8), size)


def _offline_files(selection, per_identity) -> tuple[list[str], list[int]]:
    """The files of an offline selection and their identities: the first ``per_identity`` of each, sorted."""
    files, identities = [], []
    for ident, names in selection:
        chosen = sorted(names[:per_identity] if per_identity else names)
        files += chosen
        identities += [ident] * len(chosen)
    return files, identities


def _entry_problem(entry, layout, table, selection, per_identity, size) -> str | None:
    """What keeps a cached face set from being the one :func:`load_faces` builds, or None.

    The entry must hold ``images`` (N x 3 x size x size uint8), ``identities`` (N int64, each file's
    identity in ``table``), ``files`` (N distinct names among the selection's candidates; in the
    offline layout exactly :func:`_offline_files`) and ``skipped`` (names).
    """
    lists = ("files", "skipped")
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), list) for k in lists):
        return "a dict with images, identities and the lists files and skipped expected"
    files = entry["files"]
    if not all(isinstance(name, str) for k in lists for name in entry[k]):
        return "file names that are not strings"
    wrong = cache.mismatch(entry, {"images": (len(files), 3, size, size), "identities": (len(files),)})
    if wrong is not None:
        return wrong
    if entry["images"].dtype != torch.uint8 or entry["identities"].dtype != torch.int64:
        return f"images of {entry['images'].dtype} and identities of {entry['identities'].dtype}, " \
               "expected torch.uint8 and torch.int64"
    if layout == "offline":
        expected = files == _offline_files(selection, per_identity)[0]
    else:
        candidates = {name for _, names in selection for name in names}
        expected = len(set(files)) == len(files) and candidates.issuperset(files)
    if not expected:
        return "files other than the selection's"
    if entry["identities"].tolist() != [table[name] for name in files]:
        return "identities other than the data's"
    return None


def _build(layout, folder, where, selection, per_identity, size, progress):
    from tqdm.auto import tqdm

    def path_of(name):
        return folder / (where[name] if where else name)

    if layout == "offline":
        files, identities = _offline_files(selection, per_identity)
        with tqdm(total=len(files), desc="decoding faces", unit="img", disable=not progress) as bar:
            images = _decode_chips([path_of(f) for f in files], size, bar)
        return images, files, identities, []

    total = sum(min(per_identity or len(n), len(n)) for _, n in selection)
    chips, files, identities, skipped = [], [], [], []
    with tqdm(total=total, desc=f"aligning {layout} faces", unit="img", disable=not progress) as bar:
        for ident, names in selection:
            want = per_identity or len(names)
            got = []
            for k, name in enumerate(names):
                if len(got) == want:
                    break
                if k >= want:  # a replacement for a photo without a face
                    bar.total += 1
                    bar.refresh()
                chip = _align_chip(path_of(name), size)
                bar.update(1)
                if chip is None:
                    skipped.append(name)
                else:
                    got.append((name, chip))
            got.sort(key=lambda item: item[0])
            files += [name for name, _ in got]
            identities += [ident] * len(got)
            chips += [chip for _, chip in got]
    images = np.stack(chips) if chips else np.empty((0, 3, size, size), np.uint8)
    return images, files, identities, skipped


def _warn_skipped(skipped, identities, per_identity, layout, n_chosen):
    if not skipped:
        return
    counts = np.unique(np.asarray(identities, dtype=np.int64), return_counts=True)
    short = [f"{i} ({c})" for i, c in zip(*counts) if per_identity and c < per_identity]
    missing = n_chosen - len(counts[0])
    msg = f"no face found in {len(skipped)} {layout} photo(s), skipped: {', '.join(skipped[:10])}"
    msg += " ..." if len(skipped) > 10 else ""
    if short:
        msg += f"; identities with fewer than {per_identity} faces (count): {', '.join(short)}"
    if missing:
        msg += f"; {missing} identities had no face at all and were left out"
    warnings.warn(msg, stacklevel=3)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def load_faces(source=None, n_identities: int | None = None, per_identity: int | None = None,
               size: int = 112, seed: int = 0, progress: bool = True, download: bool = False,
               data_home=None) -> FaceSet:
    """Load a labelled face set of aligned chips.

    Parameters
    ----------
    source : None, str or path-like
        ``None``: the folder named by ``FACEDID_DATA``. A folder: the offline layout
        (``img_align/*.jpg`` + ``identity.csv`` with header ``image,identity``) or CelebA in
        torchvision's layout (a folder containing ``celeba/``, or being it, with
        ``img_align_celeba/*.jpg`` and ``identity_CelebA.txt``). ``"celeba"``: CelebA through
        ``torchvision.datasets.CelebA`` in ``data_home`` (default ``<FACEDID_CACHE>/celeba-data``).
        ``"lfw"``: LFW (funneled) through ``sklearn.datasets.fetch_lfw_people`` in ``data_home``
        (default scikit-learn's, ``~/scikit_learn_data``). To load a folder named ``celeba`` in
        the working directory, pass ``"./celeba"``.
    n_identities : int, optional
        How many identities, drawn deterministically from ``seed`` among those with at least
        ``per_identity`` photos, then sorted. Default: all of them.
    per_identity : int, optional
        Photos per identity, drawn deterministically from ``seed`` and sorted by file name.
        Default: all photos. See :data:`PAPER_SELECTION` for the paper's 30 x 30.
    size : int
        Side of the returned chips; every chip is resized from 192 x 192 with PIL's Lanczos
        filter (antialiased) before it is cached. Default 112.
    seed : int
        Seed of the selection (a non-negative int).
    progress : bool
        Show a ``tqdm`` progress bar while decoding (not when loading from the cache).
    download : bool
        Let torchvision or scikit-learn download CelebA or LFW where missing.
    data_home : path-like, optional
        Where ``"celeba"`` or ``"lfw"`` keep their data.

    Returns
    -------
    FaceSet
        Images ``(N, 3, size, size)`` float32 in [0, 1] on the CPU, grouped by identity (sorted
        by identity id, then by file name), labels ``0 .. n-1`` in the order of the identity ids.

    Raises
    ------
    FileNotFoundError
        No data (``FACEDID_DATA`` unset, a missing folder, an unknown layout, CelebA or LFW not
        downloaded), or an image file listed but missing; the message says how to get data.
    ValueError
        Bad ``size``/``n_identities``/``per_identity``/``seed``, fewer eligible identities than
        asked for, an empty result, an image that cannot be decoded (named in the message), or an
        ``identity.csv`` that lists an image twice or names one outside ``img_align/``.

    Notes
    -----
    CelebA's aligned photos (178 x 218) and LFW's (250 x 250) are turned into the offline
    folder's kind of chip by :func:`facedid_lib.align.align_largest` (``size=192,
    padding=0.4``, dlib's HOG detector). A photo where no face is found is skipped and replaced
    by the next photo of the same identity in the seeded order; where an identity runs out of
    photos it keeps fewer, and a warning lists both. The chips (uint8) are cached, keyed by the
    layout, the folder, its list of files and identities, ``size`` and the selection: a changed
    image under an unchanged name is not noticed (clear the cache folder). A cache entry that cannot
    be read, or whose files, identities or image shapes are not this selection's, is named in a
    warning and rebuilt.

    Examples
    --------
    >>> faces = load_faces(data_folder, n_identities=5, per_identity=10,   # FACEDID_DATA's folder
    ...                    size=64, progress=False)
    >>> faces
    FaceSet(50 faces, 3x64x64, 5 classes, device=cpu)
    """
    size = _check_count(size, "size", allow_none=False)
    n_identities = _check_count(n_identities, "n_identities")
    per_identity = _check_count(per_identity, "per_identity")
    seed = _check_seed(seed)

    layout, folder, table, where, people = _resolve(source, data_home, download)
    if not table:
        raise ValueError(f"the {layout} data in {folder} lists no images")
    selection = _select(table, n_identities, per_identity, seed)

    aligned = layout != "offline"
    key_parts = [_CACHE_VERSION, layout, str(folder.resolve()), _table_hash(table), size,
                 dict(n_identities=n_identities, per_identity=per_identity, seed=seed)]
    if aligned:
        key_parts.append(dict(chip=CHIP_SIZE, padding=CHIP_PADDING, detector=CHIP_DETECTOR))
    path = cache.path_for("faces", *key_parts)
    with cache.lock(path):  # two processes decoding the same set: the second loads the first's
        entry = cache.load(path, check=lambda e: _entry_problem(e, layout, table, selection, per_identity, size))
        if entry is None:
            images, files, identities, skipped = _build(layout, folder, where, selection, per_identity,
                                                        size, progress)
            entry = dict(images=torch.from_numpy(images), files=files,
                         identities=torch.tensor(identities, dtype=torch.int64), skipped=skipped)
            if len(files):
                cache.save(entry, path)
    identities = entry["identities"]
    _warn_skipped(entry["skipped"], identities.tolist(), per_identity, layout, len(selection))
    if len(entry["files"]) == 0:
        raise ValueError(f"no face found in any of the selected {layout} photos in {folder}")

    ids, labels = torch.unique(identities, sorted=True, return_inverse=True)
    class_names = [people[i] for i in ids.tolist()] if people else [str(i) for i in ids.tolist()]
    return FaceSet(images=entry["images"].float().div_(255), labels=labels.to(torch.int64),
                   identities=identities, files=list(entry["files"]), class_names=class_names)


def at_size(faces: FaceSet, size: int, seed: int = 0, source=None) -> torch.Tensor:
    """The images of ``faces`` as chips of another ``size``, in the same order, from the same folder.

    Measures that need large chips (dlib's landmarks work on 192 pixels) take them for faces a
    network sees small; ``seed`` and ``source`` as given to :func:`load_faces` for ``faces``.
    """
    chips = load_faces(source, size=size, seed=seed, progress=False)
    where = {f: i for i, f in enumerate(chips.files)}
    missing = [f for f in faces.files if f not in where]
    if missing:
        raise ValueError(f"faces holds {len(missing)} file(s) the folder does not, e.g. {missing[0]}")
    return chips.images[[where[f] for f in faces.files]]


def on_colab() -> bool:
    """True inside Google Colab, where ``source=None`` means LFW, downloaded on first use."""
    return "google.colab" in sys.modules


def wild_photos(folder=None, limit: int = 16) -> dict[str, np.ndarray]:
    """In-the-wild photos for detection, de-identification of every face, and paste-back.

    Parameters
    ----------
    folder : path-like, optional
        A folder of ``.jpg``/``.png`` photos. Default: ``wild/`` of the offline folder named by
        ``FACEDID_DATA``; inside Colab without it, LFW's original 250 x 250 photos (news photos,
        often with more than one face), downloaded by scikit-learn.
    limit : int
        At most this many photos (the first in file-name order).

    Returns
    -------
    dict ``file name -> (H, W, 3) uint8 RGB array``, sorted by name.
    """
    limit = _check_count(limit, "limit", allow_none=False)
    if folder is None:
        root = config.data_dir()
        if root is not None:
            folder = root / "wild"
        elif on_colab():
            lfw = _lfw_download(None, True)
            paths = [sorted(person.glob("*.jpg"))[0] for person in sorted(lfw.iterdir())[:limit]]
            return {p.name: read_image(p) for p in paths}
        else:
            raise FileNotFoundError(f"no photos: FACEDID_DATA is not set and no folder was given.\n"
                                    f"{_HOW_TO_GET_DATA}")
    folder = Path(folder).expanduser()
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise FileNotFoundError(f"no .jpg or .png photos in {folder}")
    return {p.name: read_image(p) for p in paths[:limit]}


def split_sizes(n: int, fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> list[int]:
    """How :func:`split` cuts ``n`` photos of one identity.

    The cut points are the cumulative fractions times ``n``, rounded half up (computed exactly,
    so 30 x 0.85 = 25.5 rounds to 26): each part is within one photo of ``n * fraction``. Then
    every part with a positive fraction that came out empty takes one photo from the largest part,
    as long as ``n`` is at least the number of such parts (so 3 photos give 1/1/1, 2 give 1/1/0).

    >>> split_sizes(30), split_sizes(29), split_sizes(26), split_sizes(3)
    ([21, 5, 4], [20, 5, 4], [18, 4, 4], [1, 1, 1])
    """
    fracs = _check_fractions(fractions)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    cuts, total = [0], Fraction(0)
    for j, f in enumerate(fracs):
        total = Fraction(1) if j == len(fracs) - 1 else total + f
        cuts.append(int((n * total + Fraction(1, 2)) // 1))
    sizes = [b - a for a, b in zip(cuts, cuts[1:])]
    positive = [j for j, f in enumerate(fracs) if f > 0]
    if n >= len(positive):
        for j in positive:
            if sizes[j] == 0:
                donor = max(range(len(sizes)), key=lambda i: (sizes[i], -i))
                sizes[donor] -= 1
                sizes[j] += 1
    return sizes


def _check_fractions(fractions) -> list[Fraction]:
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise TypeError(f"fractions must be a sequence of numbers, got {fractions!r}") from None
    if not values:
        raise ValueError("fractions must not be empty")
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"fractions must be non-negative, got {tuple(values)}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {tuple(values)} (sum {sum(values):.6g})")
    return [Fraction(v).limit_denominator(10**6) for v in values]


def split(faces: FaceSet, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> tuple:
    """Split a face set by identity into parts (default train, validation, test).

    Within each identity the photos are shuffled with ``np.random.default_rng([seed, identity])``
    and cut by :func:`split_sizes` (30 photos -> 21/5/4, 26 -> 18/4/4), so every identity with at
    least as many photos as there are parts appears in every part. The parts are disjoint, cover
    the set, keep its label space and order, and depend only on ``seed``.

    Parameters
    ----------
    faces : FaceSet
    fractions : sequence of float
        Non-negative, summing to 1; one part per fraction.
    seed : int
        A non-negative int.

    Returns
    -------
    tuple of FaceSet
        One per fraction.
    """
    if not isinstance(faces, FaceSet):
        raise TypeError(f"faces must be a FaceSet, got {type(faces).__name__}")
    if len(faces) == 0:
        raise ValueError("cannot split an empty face set")
    _check_fractions(fractions)
    seed = _check_seed(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    identities = faces.identities.numpy()
    for ident in np.unique(identities):
        members = np.flatnonzero(identities == ident)
        members = members[np.random.default_rng([seed, int(ident) % 2**63]).permutation(len(members))]
        start = 0
        for j, count in enumerate(split_sizes(len(members), fractions)):
            parts[j] += members[start:start + count].tolist()
            start += count
    return tuple(faces.subset(sorted(p)) for p in parts)
