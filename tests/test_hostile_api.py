"""Hostile input at the library's edges: corrupted cache entries, NaN images, empty images, text
parameters, and an ``identity.csv`` with a byte-order mark, a file listed twice or a path outside
the data folder (``labels``' CSV files and their byte-order mark: tests/test_labels.py).

Every test works on a small offline folder (3 identities x 4 chips of the course's data, copied
into a temporary folder) at 16 x 16 pixels, with its own cache folder.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from facedid_lib.core import cache
from facedid_lib import cli, methods
from facedid_lib.data import facesets as data
from facedid_lib.core.checks import check_images
from facedid_lib.core.params import Param

SIZE = 16


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FACEDID_CACHE", str(folder))
    return folder


def _write_table(folder: Path, rows, prefix: str = "") -> None:
    text = "image,identity\n" + "".join(f"{name},{ident}\n" for name, ident in rows)
    (folder / "identity.csv").write_text(prefix + text, encoding="utf-8")


@pytest.fixture
def small_rows(data_folder) -> list[tuple[str, int]]:
    """The first 4 chips (by name) of the first 3 identities (by number) of the offline data."""
    by_id: dict[int, list[str]] = {}
    for name, ident in data._read_offline_table(data_folder).items():
        by_id.setdefault(ident, []).append(name)
    return [(name, ident) for ident in sorted(by_id)[:3] for name in sorted(by_id[ident])[:4]]


@pytest.fixture
def small_folder(tmp_path, data_folder, small_rows) -> Path:
    """An offline folder with the chips of ``small_rows`` (12 faces, 3 identities)."""
    folder = tmp_path / "small"
    (folder / "img_align").mkdir(parents=True)
    for name, _ in small_rows:
        shutil.copy(data_folder / "img_align" / name, folder / "img_align" / name)
    _write_table(folder, small_rows)
    return folder


def _load(folder: Path) -> data.FaceSet:
    return data.load_faces(folder, size=SIZE, progress=False)


def _entry(cache_folder: Path) -> Path:
    (path,) = cache_folder.glob("faces-*.pt")
    return path


def _assert_same(a: data.FaceSet, b: data.FaceSet) -> None:
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and a.files == b.files


# ---------------------------------------------------------------------------------------------
# Item 6: a corrupted or tampered cache entry is named, removed and rebuilt
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("corrupt", ["truncated", "random bytes"])
def test_unreadable_faces_entry_is_named_and_rebuilt(small_folder, cache_folder, corrupt):
    clean = _load(small_folder)
    path = _entry(cache_folder)
    stored = path.read_bytes()
    path.write_bytes(stored[:len(stored) // 2] if corrupt == "truncated" else np.random.default_rng(0).bytes(4096))
    with pytest.warns(UserWarning, match=re.escape(str(path)) + ".*cannot be read.*rebuilt"):
        rebuilt = _load(small_folder)
    _assert_same(rebuilt, clean)
    with warnings.catch_warnings():  # written again: read without a warning from now on
        warnings.simplefilter("error")
        _assert_same(_load(small_folder), clean)


def _smaller(entry):
    entry["images"] = entry["images"][:, :, :8, :8].contiguous()


def _fewer(entry):
    entry["images"], entry["identities"] = entry["images"][:5], entry["identities"][:5]


def _as_float(entry):
    entry["images"] = entry["images"].float()


def _relabelled(entry):
    entry["identities"] = entry["identities"].flip(0)


def _other_files(entry):
    entry["files"] = entry["files"][1:] + entry["files"][:1]


@pytest.mark.parametrize("tamper, why", [
    (_smaller, "images has shape 12 x 3 x 8 x 8, expected 12 x 3 x 16 x 16"),
    (_fewer, "images has shape 5 x 3 x 16 x 16, expected 12 x 3 x 16 x 16"),
    (_as_float, "images of torch.float32"),
    (_relabelled, "identities other than the data's"),
    (_other_files, "files other than the selection's"),
])
def test_tampered_faces_entry_is_rebuilt(small_folder, cache_folder, tamper, why):
    clean = _load(small_folder)
    path = _entry(cache_folder)
    entry = torch.load(path, weights_only=True)
    tamper(entry)
    torch.save(entry, path)
    with pytest.warns(UserWarning, match=re.escape(str(path)) + ".*" + why):
        rebuilt = _load(small_folder)
    _assert_same(rebuilt, clean)


def test_not_a_dict_faces_entry_is_rebuilt(small_folder, cache_folder):
    clean = _load(small_folder)
    path = _entry(cache_folder)
    torch.save([1, 2, 3], path)
    with pytest.warns(UserWarning, match=re.escape(str(path)) + ".*a dict with images"):
        _assert_same(_load(small_folder), clean)


def test_eigenface_space_rebuilds_a_corrupted_entry(small_folder, cache_folder, one_thread):
    first = methods.provide("eigenface", faces=small_folder, size=SIZE, n_components=3)["space"]
    path = _entry(cache_folder)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        space = methods.provide("eigenface", faces=small_folder, size=SIZE, n_components=3)["space"]
    assert torch.allclose(space.mean, first.mean) and len(space) == len(first) == 3
    out = methods.get("eigenface")(_load(small_folder).images, space=space, n_components=3)
    assert out.shape == (12, 3, SIZE, SIZE)


def test_cache_load_check(cache_folder):
    path = cache.path_for("x", 1)
    cache.save({"w": torch.zeros(4, 2)}, path)
    assert cache.load(path, check=lambda e: cache.mismatch(e, {"w": (4, None)})) is not None
    with pytest.warns(UserWarning, match=re.escape(str(path)) + ".*w has shape 4 x 2, expected 3 x any"):
        assert cache.load(path, check=lambda e: cache.mismatch(e, {"w": (3, None)})) is None
    assert not path.exists()
    assert cache.mismatch({"w": [1]}, {"w": (1,)}) == "w is a list, not a tensor"
    assert cache.mismatch({}, {"w": (1,)}) == "no w"
    assert cache.mismatch(torch.zeros(2, 5), (2, 5)) is None
    assert "a dict with w" in cache.mismatch(torch.zeros(2), {"w": (2,)})


# ---------------------------------------------------------------------------------------------
# Item 7: NaN and infinite values are refused before a method spreads them
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["blur", "pixelate", "svd"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_images_are_refused(name, value, one_thread):
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    images[1, 2, 3, 4] = value
    with pytest.raises(ValueError, match=r"images must be finite, got 1 NaN or infinite value\(s\) of 1536"):
        methods.get(name)(images)
    with pytest.raises(ValueError, match="faces must be finite"):
        check_images(images, "faces")


# ---------------------------------------------------------------------------------------------
# Item 10: API edges
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 3, 0, 0), (1, 3, 0, 8), (2, 3, 8, 0)])
def test_zero_height_or_width_is_refused(shape):
    with pytest.raises(ValueError, match=r"images must have a positive height and width, got shape"):
        check_images(torch.rand(shape))
    for method in methods.REGISTRY.values():
        with pytest.raises(ValueError, match="positive height and width"):
            method(torch.rand(shape))


def test_numeric_parameters_refuse_text():
    with pytest.raises(ValueError, match="sigma must be a float, got '5'"):
        methods.get("blur")(torch.rand(1, 3, SIZE, SIZE), sigma="5")
    block = Param("block", 12, "block side", low=1, high=64)
    for text in ("5", b"5", bytearray(b"5")):
        with pytest.raises(ValueError, match="block must be an int"):
            block.validate(text)
    assert block.validate(5) == 5 and block.validate(5.0) == 5
    # the command line converts its text to numbers itself
    args = cli.build_parser().parse_args(["blur", "--face-sigma", "0.5", "photo.jpg", "-o", "out"])
    assert args.face_sigma == 0.5 and isinstance(args.face_sigma, float)
    args = cli.build_parser().parse_args(["eigenface", "--n-components", "5", "photo.jpg", "-o", "out"])
    assert args.n_components == 5 and isinstance(args.n_components, int)


def test_identity_table_with_byte_order_mark(small_folder, small_rows):
    clean = _load(small_folder)
    _write_table(small_folder, small_rows, prefix="\ufeff")
    assert data._read_offline_table(small_folder) == dict(small_rows)
    _assert_same(_load(small_folder), clean)


def test_identity_table_listing_a_file_twice(small_folder, small_rows):
    name, ident = small_rows[0]
    _write_table(small_folder, small_rows + [(f"./{name}", ident + 1)])
    where = re.escape(f"{small_folder / 'identity.csv'}, line {len(small_rows) + 2}: the image {name!r}")
    with pytest.raises(ValueError, match=where + " is listed twice \\(first on line 2\\)"):
        _load(small_folder)


@pytest.mark.parametrize("escape", ["../secret.jpg", "img/../../secret.jpg", "/etc/passwd", ""])
def test_identity_table_paths_outside_the_data_folder(small_folder, small_rows, escape):
    (small_folder / "secret.jpg").write_bytes((small_folder / "img_align" / small_rows[0][0]).read_bytes())
    _write_table(small_folder, small_rows + [(escape, 1)])
    where = re.escape(f"{small_folder / 'identity.csv'}, line {len(small_rows) + 2}: the image {escape!r}")
    with pytest.raises(ValueError, match=where + " is not a file inside"):
        _load(small_folder)

