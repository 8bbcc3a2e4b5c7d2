"""Tests of facedid_lib.data.facesets: the offline folder, CelebA's and LFW's layouts, selection, cache, splits.

The offline folder comes from FACEDID_DATA (default ../shared/data/celeba_subset). CelebA and LFW
are built in temporary folders from a few offline chips (CelebA's 178 x 218 aligned photos,
LFW's 250 x 250 funneled photos), so nothing is downloaded.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facedid_lib.data import facesets as data

@pytest.fixture(scope="session")
def offline_root(data_folder) -> Path:
    return data_folder


@pytest.fixture(scope="session")
def offline_table(offline_root) -> dict[int, list[str]]:
    by_id: dict[int, list[str]] = {}
    with open(offline_root / "identity.csv", newline="") as f:
        for row in csv.DictReader(f):
            by_id.setdefault(int(row["identity"]), []).append(row["image"])
    return {i: sorted(v) for i, v in by_id.items()}


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FACEDID_CACHE", str(folder))
    return folder


def _load(source, **kw):
    kw.setdefault("size", 32)
    kw.setdefault("progress", False)
    return data.load_faces(source, **kw)


# ---------------------------------------------------------------------------------------------
# CelebA's and LFW's photos are aligned by facedid_lib.align (dlib)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def faces_module():
    from facedid_lib import align

    assert callable(align.align_largest)
    return align


# ---------------------------------------------------------------------------------------------
# Fake CelebA and LFW folders built from offline chips
# ---------------------------------------------------------------------------------------------

N_FAKE = 3      # identities
PER_FAKE = 5    # photos with a face per identity; the first identity also has one without


def _chips_for_fakes(offline_root, offline_table):
    ids = sorted(offline_table)[:N_FAKE]
    return {i: [offline_root / "img_align" / f for f in offline_table[i][:PER_FAKE]] for i in ids}


def _blank_photo(w, h):
    rng = np.random.default_rng(0)
    return Image.fromarray((96 + 16 * rng.standard_normal((h, w, 3))).clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def celeba_parent(tmp_path_factory, offline_root, offline_table) -> Path:
    """<parent>/celeba/img_align_celeba/*.jpg (178 x 218) + identity_CelebA.txt."""
    parent = tmp_path_factory.mktemp("celeba_parent")
    images = parent / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    lines = []
    for n, (ident, paths) in enumerate(_chips_for_fakes(offline_root, offline_table).items()):
        for p in paths:
            with Image.open(p) as img:
                img.convert("RGB").resize((178, 218), Image.Resampling.LANCZOS).save(images / p.name, quality=95)
            lines.append(f"{p.name} {ident}")
        if n == 0:
            _blank_photo(178, 218).save(images / "900000.jpg", quality=95)
            lines.append(f"900000.jpg {ident}")
    (parent / "celeba" / "identity_CelebA.txt").write_text("\n".join(sorted(lines)) + "\n")
    return parent


LFW_PEOPLE = ["Alice_Example", "Bob_Example", "Carol_Example"]


@pytest.fixture(scope="session")
def lfw_home(tmp_path_factory, offline_root, offline_table) -> Path:
    """A scikit-learn data_home with lfw_home/ as fetch_lfw_people leaves it (funneled)."""
    home = tmp_path_factory.mktemp("sklearn_home")
    lfw = home / "lfw_home"
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt"):
        (lfw / name).parent.mkdir(parents=True, exist_ok=True)
        (lfw / name).write_text("1\n")
    chips = list(_chips_for_fakes(offline_root, offline_table).values())
    people = {person: paths[:4] for person, paths in zip(LFW_PEOPLE, chips)}
    people["Dan_Single"] = chips[0][4:5]
    for person, paths in people.items():
        (lfw / "lfw_funneled" / person).mkdir(parents=True)
        for k, p in enumerate(paths, start=1):
            canvas = Image.new("RGB", (250, 250), (40, 40, 40))
            with Image.open(p) as img:
                canvas.paste(img.convert("RGB").resize((200, 200), Image.Resampling.LANCZOS), (25, 25))
            canvas.save(lfw / "lfw_funneled" / person / f"{person}_{k:04d}.jpg", quality=95)
    return home


# ---------------------------------------------------------------------------------------------
# The offline folder
# ---------------------------------------------------------------------------------------------


def test_offline_shapes_range_labels(offline_root, offline_table):
    faces = _load(offline_root, n_identities=4, per_identity=5, size=32)
    assert isinstance(faces, data.FaceSet)
    assert faces.images.shape == (20, 3, 32, 32) and faces.images.dtype == torch.float32
    assert faces.images.device.type == "cpu"
    assert 0.0 <= float(faces.images.min()) and float(faces.images.max()) <= 1.0
    assert float(faces.images.std()) > 0.05  # real pictures, not a constant
    assert faces.labels.dtype == torch.int64 and faces.identities.dtype == torch.int64
    assert faces.labels.tolist() == [c for c in range(4) for _ in range(5)]
    ids = faces.identities.tolist()
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert faces.n_classes == 4 and len(faces) == 20
    assert faces.class_names == [str(i) for i in sorted(set(ids))]
    for ident, name in zip(ids, faces.files):  # every file belongs to its identity
        assert name in offline_table[ident]
    for c in range(4):  # sorted by file name within an identity
        names = [f for f, lab in zip(faces.files, faces.labels.tolist()) if lab == c]
        assert names == sorted(names) and len(set(names)) == 5
    assert repr(faces) == "FaceSet(20 faces, 3x32x32, 4 classes, device=cpu)"


def test_offline_chip_is_the_resized_file(offline_root):
    faces = _load(offline_root, n_identities=1, per_identity=1, size=48)
    with Image.open(offline_root / "img_align" / faces.files[0]) as img:
        ref = np.asarray(img.convert("RGB").resize((48, 48), Image.Resampling.LANCZOS))
    got = (faces.images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(got, ref)


def test_offline_selection_deterministic_and_seeded(offline_root):
    a = _load(offline_root, n_identities=3, per_identity=4, seed=1)
    b = _load(offline_root, n_identities=3, per_identity=4, seed=1)
    c = _load(offline_root, n_identities=3, per_identity=4, seed=2)
    assert torch.equal(a.images, b.images) and a.files == b.files
    assert a.identities.tolist() == b.identities.tolist()
    assert a.files != c.files


def test_offline_all_photos_and_all_identities(offline_root, offline_table):
    two = _load(offline_root, n_identities=2, size=16)  # per_identity None: every photo
    ids = sorted(set(two.identities.tolist()))
    assert len(two) == sum(len(offline_table[i]) for i in ids)
    assert two.files == [f for i in ids for f in offline_table[i]]
    eligible = sorted(i for i, v in offline_table.items() if len(v) >= 30)
    thirty = _load(offline_root, per_identity=30, size=8)  # n_identities None: every eligible id
    assert sorted(set(thirty.identities.tolist())) == eligible
    assert len(thirty) == 30 * len(eligible) and thirty.n_classes == len(eligible)


def test_source_none_reads_FACEDID_DATA(offline_root, monkeypatch):
    monkeypatch.setenv("FACEDID_DATA", str(offline_root))
    a = data.load_faces(n_identities=2, per_identity=3, size=16, progress=True)
    b = _load(offline_root, n_identities=2, per_identity=3, size=16)
    assert torch.equal(a.images, b.images) and a.files == b.files


def test_paper_selection():
    assert data.PAPER_SELECTION == dict(n_identities=30, per_identity=30)


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------


def test_second_call_reads_the_cache(offline_root, fresh_cache, monkeypatch):
    a = _load(offline_root, n_identities=2, per_identity=3, size=24)
    entries = list(fresh_cache.glob("faces-*.pt"))
    assert len(entries) == 1
    stored = torch.load(entries[0], weights_only=True)
    assert stored["images"].dtype == torch.uint8 and stored["images"].shape == (6, 3, 24, 24)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(data, "_decode_chips", no_decoding)
    b = _load(offline_root, n_identities=2, per_identity=3, size=24)
    assert torch.equal(a.images, b.images) and a.files == b.files
    assert torch.equal(a.labels, b.labels) and torch.equal(a.identities, b.identities)
    with pytest.raises(AssertionError, match="decoded again"):  # another size is another entry
        _load(offline_root, n_identities=2, per_identity=3, size=25)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def _assert_helpful(message: str):
    for part in ("FACEDID_DATA", 'source="celeba", download=True', 'source="lfw"'):
        assert part in message


def test_FACEDID_DATA_unset(monkeypatch):
    monkeypatch.delenv("FACEDID_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        data.load_faces()
    assert "FACEDID_DATA is not set" in str(err.value)
    _assert_helpful(str(err.value))


def test_missing_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDID_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        data.load_faces()
    assert "nowhere" in str(err.value) and "relative path" not in str(err.value)
    _assert_helpful(str(err.value))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEDID_DATA", "../elsewhere")
    with pytest.raises(FileNotFoundError, match="give an absolute path"):
        data.load_faces()
    with pytest.raises(FileNotFoundError, match="neither the offline layout") as err:
        data.load_faces(tmp_path)  # exists, but holds no known layout
    _assert_helpful(str(err.value))


def test_too_few_identities_or_photos(offline_root, offline_table):
    eligible = sum(len(v) >= 30 for v in offline_table.values())
    with pytest.raises(ValueError, match=f"asked for 77 identities with 30 photos each, the data has "
                                         f"only {eligible} with >= 30 photos"):
        _load(offline_root, **{**data.PAPER_SELECTION, "n_identities": 77})
    with pytest.raises(ValueError, match="asked for 78 identities, the data has only 77"):
        _load(offline_root, n_identities=78)
    with pytest.raises(ValueError, match="no identity has >= 31 photos"):
        _load(offline_root, per_identity=31)


@pytest.mark.parametrize("kwargs, error", [
    (dict(size=0), ValueError), (dict(size=-3), ValueError), (dict(size=1.5), TypeError),
    (dict(size=True), TypeError), (dict(n_identities=0), ValueError),
    (dict(per_identity=-1), ValueError), (dict(per_identity="30"), TypeError),
    (dict(seed=-1), ValueError), (dict(seed=0.5), TypeError),
])
def test_bad_arguments(offline_root, kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        _load(offline_root, **kwargs)


def test_bad_source_arguments(offline_root, tmp_path):
    with pytest.raises(TypeError, match="source"):
        data.load_faces(42)
    with pytest.raises(ValueError, match="data_home"):
        data.load_faces(offline_root, data_home=tmp_path)
    with pytest.raises(ValueError, match="download"):
        data.load_faces(offline_root, download=True)


def _small_offline_copy(offline_root, offline_table, folder: Path) -> list[str]:
    (folder / "img_align").mkdir(parents=True)
    rows = []
    for ident in sorted(offline_table)[:2]:
        for name in offline_table[ident][:3]:
            shutil.copy(offline_root / "img_align" / name, folder / "img_align" / name)
            rows.append(f"{name},{ident}")
    (folder / "identity.csv").write_text("image,identity\n" + "\n".join(rows) + "\n")
    return [r.split(",")[0] for r in rows]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image_is_named(offline_root, offline_table, tmp_path, damage):
    names = _small_offline_copy(offline_root, offline_table, tmp_path / "copy")
    assert len(_load(tmp_path / "copy")) == 6
    bad = tmp_path / "copy" / "img_align" / names[4]
    content = bad.read_bytes()
    bad.write_bytes(b"this is not a jpeg" * 20 if damage == "garbage" else content[: len(content) // 3])
    with pytest.raises(ValueError, match=f"cannot read image .*{names[4]}"):
        _load(tmp_path / "copy", size=16)
    bad.unlink()
    with pytest.raises(FileNotFoundError, match=names[4]):
        _load(tmp_path / "copy", size=16)


def test_bad_identity_csv(tmp_path):
    (tmp_path / "img_align").mkdir()
    (tmp_path / "identity.csv").write_text("file,person\n000001.jpg,3\n")
    with pytest.raises(ValueError, match="image,identity"):
        _load(tmp_path)
    (tmp_path / "identity.csv").write_text("image,identity\n")
    with pytest.raises(ValueError, match="lists no images"):
        _load(tmp_path)


# ---------------------------------------------------------------------------------------------
# FaceSet
# ---------------------------------------------------------------------------------------------


def test_faceset_subset_to_and_checks(offline_root):
    faces = _load(offline_root, n_identities=3, per_identity=2, size=16)
    part = faces.subset([0, 5])
    assert len(part) == 2 and part.files == [faces.files[0], faces.files[5]]
    assert part.labels.tolist() == [0, 2] and part.n_classes == 3  # the label space is kept
    mask = faces.labels == 1
    assert faces.subset(mask).files == faces.files[2:4]
    assert repr(faces.subset([0])) == "FaceSet(1 faces, 3x16x16, 1 of 3 classes, device=cpu)"
    moved = faces.to("cpu")
    assert moved is not faces and torch.equal(moved.images, faces.images)
    assert moved.labels.device.type == "cpu" and moved.class_names == faces.class_names
    built = data.FaceSet(faces.images, faces.labels, faces.identities, faces.files)
    assert built.class_names == faces.class_names and built.n_classes == 3
    with pytest.raises(ValueError, match="shape"):
        data.FaceSet(faces.images[:, :1], faces.labels, faces.identities, faces.files)
    with pytest.raises(ValueError, match="labels"):
        data.FaceSet(faces.images, faces.labels[:-1], faces.identities, faces.files)
    with pytest.raises(TypeError, match="float"):
        data.FaceSet((faces.images * 255).to(torch.uint8), faces.labels, faces.identities, faces.files)


# ---------------------------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------------------------


def test_split_sizes_rounding():
    assert data.split_sizes(30) == [21, 5, 4]
    assert data.split_sizes(29) == [20, 5, 4]
    assert data.split_sizes(26) == [18, 4, 4]
    assert data.split_sizes(3) == [1, 1, 1]
    assert data.split_sizes(2) == [1, 1, 0]  # fewer photos than parts: the last parts go short
    assert data.split_sizes(10, (0.8, 0.2)) == [8, 2]
    assert data.split_sizes(10, (1.0, 0.0)) == [10, 0]
    for n in range(0, 61):
        sizes = data.split_sizes(n)
        assert sum(sizes) == n
        assert n < 3 or min(sizes) >= 1  # every part gets a photo where there are enough
        assert n < 4 or all(abs(s - n * f) < 1.2 for s, f in zip(sizes, (0.7, 0.15, 0.15)))


def test_split_stratified_disjoint_deterministic(offline_root):
    faces = _load(offline_root, n_identities=4, per_identity=30, size=8)
    train, val, test = data.split(faces, seed=0)
    assert (len(train), len(val), len(test)) == (4 * 21, 4 * 5, 4 * 4)
    for part, count in ((train, 21), (val, 5), (test, 4)):
        assert part.n_classes == 4
        assert torch.bincount(part.labels, minlength=4).tolist() == [count] * 4
    files = [set(p.files) for p in (train, val, test)]
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])
    assert files[0] | files[1] | files[2] == set(faces.files)
    again = data.split(faces, seed=0)
    assert all(a.files == b.files and torch.equal(a.images, b.images) for a, b in zip((train, val, test), again))
    other = data.split(faces, seed=1)
    assert other[0].files != train.files


def test_split_with_uneven_identities(offline_root, offline_table):
    faces = _load(offline_root, n_identities=5, size=8)  # all photos: 26 to 30 per identity
    parts = data.split(faces, fractions=(0.7, 0.15, 0.15), seed=3)
    for label in range(faces.n_classes):
        n = int((faces.labels == label).sum())
        counts = [int((p.labels == label).sum()) for p in parts]
        assert counts == data.split_sizes(n)


@pytest.mark.parametrize("fractions", [(0.7, 0.2, 0.2), (0.5, 0.6, -0.1), (), ("a", "b")])
def test_split_bad_fractions(offline_root, fractions):
    faces = _load(offline_root, n_identities=2, per_identity=3, size=8)
    with pytest.raises((ValueError, TypeError), match="fractions"):
        data.split(faces, fractions=fractions)


def test_split_bad_input():
    with pytest.raises(TypeError, match="FaceSet"):
        data.split(torch.zeros(3, 3, 8, 8))


# ---------------------------------------------------------------------------------------------
# CelebA in torchvision's layout
# ---------------------------------------------------------------------------------------------


def _celeba_ids(offline_table):
    return sorted(offline_table)[:N_FAKE]


def test_celeba_layout(celeba_parent, offline_table, faces_module):
    with pytest.warns(UserWarning, match=r"no face found in 1 celeba photo\(s\), skipped: 900000.jpg"):
        faces = _load(celeba_parent, size=32)  # all photos: the blank one has no face
    ids = _celeba_ids(offline_table)
    assert faces.images.shape == (N_FAKE * PER_FAKE, 3, 32, 32)
    assert faces.identities.tolist() == [i for i in ids for _ in range(PER_FAKE)]
    assert faces.labels.tolist() == [c for c in range(N_FAKE) for _ in range(PER_FAKE)]
    assert "900000.jpg" not in faces.files
    with pytest.warns(UserWarning):  # the celeba/ folder itself: the same data
        same = _load(celeba_parent / "celeba", size=32)
    assert same.files == faces.files and torch.equal(same.images, faces.images)


def test_celeba_chips_resemble_the_offline_chips(celeba_parent, offline_root, faces_module):
    with pytest.warns(UserWarning):
        faces = _load(celeba_parent, size=64)
    diffs = []
    for image, name in zip(faces.images, faces.files):
        with Image.open(offline_root / "img_align" / name) as img:
            ref = torch.from_numpy(np.array(img.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS)))
        diffs.append(float((image.permute(1, 2, 0) - ref / 255).abs().mean()))
    # about 0.09 (the 178 x 218 stretch cannot be undone by a similarity); a box crop gives 0.18
    assert np.median(diffs) < 0.12, diffs


def test_celeba_replaces_photos_without_a_face(celeba_parent, offline_table, faces_module):
    table = data._read_celeba_table(celeba_parent / "celeba")
    seed = next(s for s in range(100)
                if "900000.jpg" in data._select(table, None, PER_FAKE, s)[0][1][:PER_FAKE])
    with pytest.warns(UserWarning, match="no face found in 1 celeba photo"):
        faces = _load(celeba_parent, per_identity=PER_FAKE, seed=seed)
    assert torch.bincount(faces.labels).tolist() == [PER_FAKE] * N_FAKE  # replaced by the spare
    with pytest.warns(UserWarning, match=f"identities with fewer than {PER_FAKE + 1} faces"):
        short = _load(celeba_parent, per_identity=PER_FAKE + 1)  # only the first identity has 6
    assert len(short) == PER_FAKE and short.n_classes == 1


def test_celeba_corrupt_photo(celeba_parent, tmp_path, faces_module):
    copy = tmp_path / "copy"
    shutil.copytree(celeba_parent, copy)
    name = sorted(os.listdir(copy / "celeba" / "img_align_celeba"))[0]
    (copy / "celeba" / "img_align_celeba" / name).write_bytes(b"\xff\xd8\xff broken")
    with pytest.raises(Exception, match=name):
        _load(copy)


def test_celeba_source_uses_data_home(celeba_parent, faces_module):
    with pytest.warns(UserWarning):
        a = _load("celeba", data_home=celeba_parent)
    with pytest.warns(UserWarning):
        b = _load(celeba_parent)
    assert a.files == b.files and torch.equal(a.images, b.images)


def test_celeba_not_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as err:
        data.load_faces("celeba", data_home=tmp_path / "empty", progress=False)
    _assert_helpful(str(err.value))


def test_celeba_download_calls_torchvision(celeba_parent, tmp_path, monkeypatch, faces_module):
    import torchvision

    calls = []

    class FakeCelebA:  # what torchvision's download leaves behind
        def __init__(self, root, split, target_type, download):
            calls.append(dict(root=root, split=split, target_type=target_type, download=download))
            if not Path(root, "celeba").exists():
                shutil.copytree(celeba_parent / "celeba", Path(root, "celeba"))

    monkeypatch.setattr(torchvision.datasets, "CelebA", FakeCelebA)
    with pytest.warns(UserWarning):
        faces = data.load_faces("celeba", download=True, size=16, progress=False)
    default_root = Path(os.environ["FACEDID_CACHE"]) / "celeba-data"
    assert calls == [dict(root=str(default_root), split="all", target_type="identity", download=True)]
    assert len(faces) == N_FAKE * PER_FAKE


# ---------------------------------------------------------------------------------------------
# LFW through scikit-learn's data_home
# ---------------------------------------------------------------------------------------------


def test_fake_lfw_home_is_valid_for_sklearn(lfw_home):
    from sklearn.datasets import fetch_lfw_people

    bunch = fetch_lfw_people(data_home=str(lfw_home), funneled=True, color=True, resize=0.2,
                             slice_=(slice(0, 250), slice(0, 250)), min_faces_per_person=4,
                             download_if_missing=False)
    assert list(bunch.target_names) == [p.replace("_", " ") for p in LFW_PEOPLE]
    assert bunch.images.shape == (12, 50, 50, 3)


def test_lfw_layout(lfw_home, faces_module):
    faces = _load("lfw", data_home=lfw_home, per_identity=4, size=32)
    assert faces.images.shape == (12, 3, 32, 32)
    assert faces.class_names == ["Alice Example", "Bob Example", "Carol Example"]
    assert faces.identities.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert faces.files[:2] == ["Alice_Example_0001.jpg", "Alice_Example_0002.jpg"]
    everyone = _load("lfw", data_home=lfw_home, size=16)
    assert everyone.class_names[-1] == "Dan Single" and everyone.identities.tolist()[-1] == 3
    assert len(everyone) == 13
    two = _load("lfw", data_home=lfw_home, n_identities=2, per_identity=2, size=16, seed=4)
    assert len(two) == 4 and two.n_classes == 2


def test_lfw_not_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as err:
        data.load_faces("lfw", data_home=tmp_path / "empty", progress=False)
    _assert_helpful(str(err.value))


def test_lfw_download_calls_sklearn(lfw_home, tmp_path, monkeypatch, faces_module):
    import sklearn.datasets

    calls = []

    def fake_fetch(**kwargs):
        calls.append(kwargs)
        shutil.copytree(lfw_home / "lfw_home", Path(kwargs["data_home"]) / "lfw_home")

    monkeypatch.setattr(sklearn.datasets, "fetch_lfw_people", fake_fetch)
    faces = data.load_faces("lfw", data_home=tmp_path / "home", download=True, per_identity=4,
                            size=16, progress=False)
    assert len(faces) == 12
    assert len(calls) == 1 and calls[0]["download_if_missing"] is True and calls[0]["funneled"] is True
    assert calls[0]["data_home"] == str(tmp_path / "home")


def test_wild_photos(data_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    photos = data.wild_photos()
    assert len(photos) == 16 and list(photos) == sorted(photos)
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in photos.values())
    assert len(data.wild_photos(data_folder / "wild", limit=3)) == 3
    with pytest.raises(FileNotFoundError, match="no .jpg or .png"):
        data.wild_photos(tmp_path)
    monkeypatch.delenv("FACEDID_DATA")
    with pytest.raises(FileNotFoundError, match="FACEDID_DATA is not set"):
        data.wild_photos()


def test_colab_without_data_means_lfw(monkeypatch, tmp_path):
    seen = {}

    def fake_lfw(data_home, download):
        seen["download"] = download
        raise FileNotFoundError("stop here")

    monkeypatch.delenv("FACEDID_DATA", raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setattr(data, "_lfw_download", fake_lfw)
    with pytest.raises(FileNotFoundError, match="stop here"):
        data.load_faces(size=32)
    assert seen == {"download": True}


def test_first_per_identity_keeps_k_faces_of_every_identity():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    faces = data.FaceSet(torch.rand(9, 3, 4, 4), labels, labels + 10, [f"{i}.jpg" for i in range(9)])
    two = faces.first_per_identity(2)
    assert two.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert two.files == ["0.jpg", "1.jpg", "3.jpg", "4.jpg", "5.jpg", "6.jpg"]
    assert faces.first_per_identity(None) is faces
    with pytest.raises(ValueError):
        faces.first_per_identity(0)
