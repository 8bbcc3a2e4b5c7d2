"""Tests of facedid_lib.data.labels: genders (identities.csv) and CelebA's attributes (attributes.csv)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import torch

from facedid_lib.core import config
from facedid_lib.data import labels
from facedid_lib.data.facesets import FaceSet
from facedid_lib.data.labels import GENDER_LABELS


@pytest.fixture(scope="module")
def folder():
    path = config.data_dir()
    if path is None or not (path / "identities.csv").is_file():
        pytest.skip("needs FACEDID_DATA: the course's offline folder with identities.csv (celeba_subset)")
    return path


def _faceset(identities, files=None) -> FaceSet:
    """A face set of tiny blank images with the given identities and file names."""
    n = len(identities)
    files = files if files is not None else [f"{i:06d}.jpg" for i in range(n)]
    return FaceSet(images=torch.zeros(n, 3, 2, 2), labels=torch.arange(n), identities=torch.tensor(identities),
                   files=files)


# ------------------------------------------------------------------------------------------------
# genders


def test_genders_of_all_identities(folder):
    every = pd.read_csv(folder / "identity.csv")["identity"].unique().tolist()
    g = labels.genders(_faceset(every), folder)
    assert g.dtype == torch.int64 and g.shape == (77,)
    assert int((g == 0).sum()) == 58 and int((g == 1).sum()) == 19
    assert GENDER_LABELS == ("female", "male")


def test_known_genders(folder, monkeypatch):
    monkeypatch.setenv("FACEDID_DATA", str(folder))
    assert labels.genders(_faceset([7201, 7233, 7201])).tolist() == [0, 1, 0]  # default folder: FACEDID_DATA


def test_genders_of_a_loaded_face_set(folder, faceset):
    train, test = faceset
    for part in (train, test):
        g = labels.genders(part, folder)
        assert g.shape == (len(part),) and g.device == part.labels.device
        # one gender per identity
        for ident in part.identities.unique():
            assert len(g[part.identities == ident].unique()) == 1


def test_genders_errors(folder, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="identities.csv"):
        labels.genders(_faceset([7201]), tmp_path)
    monkeypatch.delenv("FACEDID_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="FACEDID_DATA"):
        labels.genders(_faceset([7201]))
    with pytest.raises(ValueError, match="123456"):
        labels.genders(_faceset([7201, 123456]), folder)
    with pytest.raises(TypeError, match="FaceSet"):
        labels.genders(torch.zeros(1, 3, 2, 2), folder)
    (tmp_path / "identities.csv").write_text("identity,gender\n7201,unknown\n")
    with pytest.raises(ValueError, match="line 2"):
        labels.genders(_faceset([7201]), tmp_path)


def test_byte_order_mark(folder, tmp_path):
    for name in ("identities.csv", "attributes.csv"):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + (folder / name).read_bytes())
    assert labels.genders(_faceset([7233]), tmp_path).tolist() == [1]
    assert labels.celeba_attributes(_faceset([7399], ["000093.jpg"]), "Eyeglasses", tmp_path).iloc[0, 0]


# ------------------------------------------------------------------------------------------------
# CelebA's attributes


def test_known_rows_and_missing(folder):
    faces = _faceset([7399, 7256, 7256, 7399], ["000093.jpg", "img_align/000114.jpg", "020132.jpg", "nowhere.jpg"])
    table = labels.celeba_attributes(faces, ["Eyeglasses", "Smiling", "Male"], folder)
    assert list(table.columns) == ["Eyeglasses", "Smiling", "Male"]
    assert list(table.index) == [0, 1, 2, 3]
    assert all(str(t) == "boolean" for t in table.dtypes)
    assert table.loc[0].tolist() == [True, False, False]   # 000093.jpg: glasses, no smile, female
    assert table.loc[1].tolist() == [False, True, True]    # 000114.jpg, matched by its base name
    assert table.loc[2:].isna().all().all()                 # no row in attributes.csv
    assert bool(labels.celeba_attributes(faces, "Mouth_Slightly_Open", folder).iloc[1, 0])


def test_attributes_of_a_loaded_face_set(folder, faceset):
    train, _ = faceset
    table = labels.celeba_attributes(train, ["Male", "Smiling"], folder)
    assert table.shape == (len(train), 2)
    listed = set(pd.read_csv(folder / "attributes.csv", encoding="utf-8-sig")["image"])
    assert (table["Male"].notna().to_numpy() == [f.split("/")[-1] in listed for f in train.files]).all()
    # CelebA's Male agrees with identities.csv on most labelled chips
    known = table["Male"].notna().to_numpy()
    if known.any():
        genders = labels.genders(train, folder).numpy()[known]
        assert (table["Male"].to_numpy()[known].astype(bool) == (genders == 1)).mean() >= 0.8


def test_attribute_errors(folder, tmp_path):
    faces = _faceset([7399], ["000093.jpg"])
    with pytest.raises(ValueError, match="Smiling") as error:
        labels.celeba_attributes(faces, ["smiling"], folder)
    assert "valid names" in str(error.value)
    with pytest.raises(ValueError, match="at least one"):
        labels.celeba_attributes(faces, [], folder)
    with pytest.raises(TypeError, match="strings"):
        labels.celeba_attributes(faces, [1], folder)
    with pytest.raises(FileNotFoundError, match="attributes.csv"):
        labels.celeba_attributes(faces, "Smiling", tmp_path)
    shutil.copy(folder / "identities.csv", tmp_path)
    (tmp_path / "attributes.csv").write_text("image,Smiling\n000093.jpg,0\n")
    with pytest.raises(ValueError, match="1 or -1"):
        labels.celeba_attributes(faces, "Smiling", tmp_path)
