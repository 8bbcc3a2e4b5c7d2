"""Tests of the ``facedid`` command line (facedid_lib.cli).

Most tests call :func:`facedid_lib.cli.main` in this process (fast); one runs the installed
script. Inputs are PNG copies of three small wild photos of the offline data folder, so an
output can be compared with its input pixel for pixel (PNG is lossless).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facedid_lib import align, cli, pipeline
from facedid_lib.io.images import read_image, write_image
from facedid_lib.methods import REGISTRY, Method
from facedid_lib.core.params import Param

pytestmark = pytest.mark.usefixtures("one_thread")

# small photos with two faces each that HOG finds (see the data folder's README)
WILD = ("058405.jpg", "077945.jpg", "138700.jpg")
# small chips, the inner face and HOG: the tests check the plumbing of the paste-back, not the methods
# (tests/test_hide.py checks the command's defaults: the whole head, YuNet)
FAST = ["--size", "64", "-q", "--detector", "hog", "--region", "inner"]
CHIP64 = 64 / 1.8  # the face's width in a 64-pixel chip (padding 0.4): --face-sigma 0.1 is 3.6 px there


@pytest.fixture(scope="module")
def originals(data_folder, tmp_path_factory) -> Path:
    """A folder of PNG copies of the WILD photos: two at the top, one in ``sub/``."""
    folder = tmp_path_factory.mktemp("originals")
    (folder / "sub").mkdir()
    for i, name in enumerate(WILD):
        target = folder / ("sub" if i == 2 else "") / name.replace(".jpg", ".png")
        write_image(target, read_image(data_folder / "wild" / name))
    return folder


@pytest.fixture
def photos(originals, tmp_path) -> Path:
    """A fresh copy of ``originals`` (tests add files to it)."""
    return Path(shutil.copytree(originals, tmp_path / "photos"))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def images(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*.png"))


def check_deidentified(source: Path, target: Path, size: int = 192) -> None:
    """Same size; changed inside the faces, bit for bit equal where paste-back does not reach."""
    before, after = read_image(source), read_image(target)
    assert after.shape == before.shape
    found = align.align_faces(before, size=size, device="cpu")
    assert len(found)
    masks = align.photo_masks(before, found.transforms, size=size, device="cpu").numpy()
    outside = masks.max(0) == 0
    np.testing.assert_array_equal(after[outside], before[outside])
    for mask in masks:
        inside = mask > 0.9
        assert np.abs(after[inside].astype(int) - before[inside]).mean() > 1


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------
# it works


def test_blur_single_image(photos, tmp_path, capsys):
    before = snapshot(photos)
    source = photos / "058405.png"
    code, out, err = run(capsys, "blur", source, "-o", tmp_path / "out", "-q", "--detector", "hog", "--region", "inner")
    assert code == 0, err
    assert images(tmp_path / "out") == [Path("058405.png")]
    check_deidentified(source, tmp_path / "out" / "058405.png")
    assert snapshot(photos) == before
    assert "blur: 1 written" in out and "0 unreadable" in out
    assert no_temporary_files(tmp_path / "out")


def test_blur_folder_keeps_relative_paths(photos, tmp_path, capsys):
    (photos / "notes.txt").write_text("not a photo")
    before = snapshot(photos)
    code, out, err = run(capsys, "blur", "--face-sigma", "0.17", photos, "-o", tmp_path / "out" / "new", *FAST)
    assert code == 0, err
    assert images(tmp_path / "out" / "new") == images(photos)  # sub/ kept, notes.txt ignored
    assert not (tmp_path / "out" / "new" / "notes.txt").exists()
    for relative in images(photos):
        check_deidentified(photos / relative, tmp_path / "out" / "new" / relative, size=64)
    assert snapshot(photos) == before
    assert "3 written" in out
    assert no_temporary_files(tmp_path / "out")


def test_parameter_reaches_method(photos, tmp_path, capsys):
    source = photos / "077945.png"
    for fraction in ("0.05", "0.3"):
        assert run(capsys, "blur", "--face-sigma", fraction, source, "-o", tmp_path / fraction, *FAST)[0] == 0
    # on the chip, a fraction of the face's width is that many of the chip's pixels
    expected, _ = pipeline.deidentify_photo(read_image(source), REGISTRY["blur"], size=64, sigma=0.3 * CHIP64)
    np.testing.assert_array_equal(read_image(tmp_path / "0.3" / source.name), expected)
    assert not np.array_equal(read_image(tmp_path / "0.05" / source.name), expected)


def test_no_face_is_written_unchanged(tmp_path, capsys):
    ramp = np.linspace(0, 255, 160 * 120 * 3).reshape(120, 160, 3).astype(np.uint8)
    write_image(tmp_path / "wall.png", ramp)
    code, out, err = run(capsys, "pixelate", tmp_path / "wall.png", "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "wall.png"), ramp)
    assert "1 written" in out and "1 with no face found, written unchanged" in out


def test_video(photos, tmp_path, capsys):
    frame = read_image(photos / "058405.png")
    writer = cv2.VideoWriter(str(photos / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, frame.shape[1::-1])
    for _ in range(2):
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    code, out, err = run(capsys, "negate", photos / "clip.avi", "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip.avi"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 2
    capture.release()


def test_new_method_gets_a_sub_command(photos, tmp_path, capsys, monkeypatch):
    """Every kind of parameter becomes an option, and its value reaches the method."""
    seen = {}

    def tint(images, strength: int = 1, colour: str = "red", inverted: bool = False):
        """Tint: a test method."""
        seen.update(strength=strength, colour=colour, inverted=inverted)
        return images * 0.5

    params = (Param("strength", 1, "how strong", low=1, high=9),
              Param("colour", "red", "which colour", choices=("red", "blue")),
              Param("inverted", False, "invert first"))
    monkeypatch.setitem(REGISTRY, "tint", Method("tint", tint, params, "test", "Tint: a test method."))
    code, out, _ = run(capsys, "tint", "-h")
    assert code == 0 and "--no-inverted" in out and "{red,blue}" in out and "[1, 9]" in out
    code, _, err = run(capsys, "tint", "--strength", "4", "--colour", "blue", "--inverted", photos / "058405.png",
                       "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert seen == dict(strength=4, colour="blue", inverted=True)


# ------------------------------------------------------------------------------------------------
# help


def test_help_lists_methods(capsys):
    code, out, _ = run(capsys, "-h")
    assert code == 0
    for name in REGISTRY:
        assert name in out
    assert "Gaussian blur" in out and "``" not in out


@pytest.mark.parametrize("method, expected", [
    ("blur", ["--face-sigma", "standard deviation of the Gaussian, as a fraction of the face's width", "[0.0, 1.0]",
              "default: 0.35", "--overwrite", "--detector", "default: yunet", "--region {inner,head}",
              "default: head", "--sensitive", "--verify", "--report", "--threads", "--size", "--device"]),
    ("mask", ["--region", "{eyes,face}", "--fill", "default: eyes"]),
    ("eigenface", ["--n-components", "--n_components", "[1, 2000]", "--faces", "FACEDID_DATA"]),
    ("k-same-pixel", ["--k", "[2, 100]", "all faces at once"]),
])
def test_method_help_lists_parameters(capsys, method, expected):
    code, out, _ = run(capsys, method, "-h")
    assert code == 0
    flat = " ".join(out.split())
    for text in expected:
        assert text in flat, text
    assert ("--faces" in out) == ("space" in REGISTRY[method].needs)


# ------------------------------------------------------------------------------------------------
# bad arguments: exit 2, a clear message, nothing written


@pytest.mark.parametrize("argv, message", [
    (["nope", "{photo}"], "invalid choice: 'nope'"),
    (["blur", "--face-sigma", "1.5", "{photo}"], "face_sigma must lie in [0.0, 1.0], got 1.5"),
    (["blur", "--face-sigma", "-1", "{photo}"], "[0.0, 1.0]"),
    (["blur", "--face-sigma", "six", "{photo}"], "face_sigma must be a float, got 'six'"),
    (["blur", "--sigma", "4", "{photo}"], "unrecognized arguments: --sigma"),
    (["eigenface", "--n-components", "2.5", "{photo}"], "n_components must be a whole number"),
    (["pixelate", "--face-block", "inf", "{photo}"], "face_block must"),
    (["mask", "--region", "nose", "{photo}"], "invalid choice: 'nose'"),
    (["blur", "--size", "8", "{photo}"], "size must lie in [16, 1024]"),
    (["blur", "--detector", "eyes", "{photo}"], "'eyes': choose from hog, haar, mmod, yunet"),
    (["svd", "--rank", "100", "--size", "64", "{photo}"], "rank must be at most min(H, W) = 64"),
    (["blur", "{photos}/missing.jpg"], "missing.jpg does not exist"),
    (["blur", "{photos}/notes.txt"], "neither an image"),
    (["blur", "{empty}"], "no image or video file found"),
    (["blur", "--device", "toaster", "{photo}"], "--device toaster"),
])
def test_bad_arguments(photos, tmp_path, capsys, argv, message):
    (photos / "notes.txt").write_text("not a photo")
    (tmp_path / "empty").mkdir()
    names = dict(photo=photos / "058405.png", photos=photos, empty=tmp_path / "empty")
    code, out, err = run(capsys, *[a.format(**names) for a in argv], "-o", tmp_path / "out")
    assert code == 2
    assert message in " ".join(err.split())
    assert not (tmp_path / "out").exists()


def test_missing_output_option(photos, capsys):
    code, _, err = run(capsys, "blur", photos)
    assert code == 2 and "-o/--output" in err


def test_output_is_a_file(photos, tmp_path, capsys):
    (tmp_path / "out.png").write_bytes(b"mine")
    code, _, err = run(capsys, "blur", photos, "-o", tmp_path / "out.png")
    assert code == 2 and "is not a folder" in err
    assert (tmp_path / "out.png").read_bytes() == b"mine"


@pytest.mark.parametrize("target", [".", "sub/.."])
def test_never_overwrites_an_input(photos, capsys, target):
    before = snapshot(photos)
    for inputs in ([photos], [photos / "058405.png"]):
        code, _, err = run(capsys, "blur", *inputs, "-o", photos / target, "--overwrite", *FAST)
        assert code == 2 and "would overwrite an input" in err
    assert snapshot(photos) == before


def test_output_folder_inside_an_input_folder(photos, capsys):
    """A second run does not take the first run's outputs as inputs."""
    assert run(capsys, "blur", photos, "-o", photos / "out", *FAST)[0] == 0
    code, out, err = run(capsys, "blur", photos, "-o", photos / "out", *FAST)
    assert code == 0 and "ignored 3 file(s)" in err and "3 skipped" in out
    assert images(photos / "out") == [p for p in images(photos) if p.parts[0] != "out"]


# ------------------------------------------------------------------------------------------------
# files that cannot be done, files that exist


def test_unreadable_images_are_skipped(photos, tmp_path, capsys):
    (photos / "renamed.jpg").write_text("a text file")
    (photos / "sub" / "truncated.png").write_bytes((photos / "058405.png").read_bytes()[:3000])
    code, out, err = run(capsys, "blur", photos, "-o", tmp_path / "out", *FAST)
    assert code == 1
    assert "renamed.jpg" in err and "truncated.png" in err and "cannot read" in err
    written = {p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == {Path("058405.png"), Path("077945.png"), Path("sub/138700.png")}
    assert "3 written" in out and "2 unreadable" in out
    assert no_temporary_files(tmp_path / "out")


def test_existing_outputs_and_overwrite(photos, tmp_path, capsys):
    source, out = photos / "058405.png", tmp_path / "out"
    out.mkdir()
    (out / source.name).write_bytes(b"keep me")
    code, stdout, err = run(capsys, "blur", source, "-o", out, *FAST)
    assert code == 0
    assert (out / source.name).read_bytes() == b"keep me"
    assert "exists" in err and "1 skipped because the output exists" in stdout
    code, stdout, err = run(capsys, "blur", source, "--overwrite", "-o", out, *FAST)
    assert code == 0, err
    check_deidentified(source, out / source.name, size=64)
    assert "1 written" in stdout
    assert no_temporary_files(out)


# ------------------------------------------------------------------------------------------------
# methods that need a face space or the whole set


@pytest.fixture(scope="module")
def small_face_folder(data_folder, tmp_path_factory) -> Path:
    """An offline-layout face folder with the first 40 chips of the data folder (fast to fit)."""
    folder = tmp_path_factory.mktemp("faces")
    (folder / "img_align").mkdir()
    lines = (data_folder / "identity.csv").read_text().splitlines()[:41]
    (folder / "identity.csv").write_text("\n".join(lines) + "\n")
    for line in lines[1:]:
        name = line.split(",")[0]
        shutil.copy(data_folder / "img_align" / name, folder / "img_align" / name)
    return folder


def test_eigenface_with_faces_folder(photos, tmp_path, capsys, monkeypatch, small_face_folder):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path / "cache"))
    source = photos / "058405.png"
    code, _, err = run(capsys, "eigenface", "--n-components", "5", "--faces", small_face_folder, source,
                       "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    check_deidentified(source, tmp_path / "out" / source.name, size=64)
    # FACEDID_DATA is the default training set
    monkeypatch.setenv("FACEDID_DATA", str(small_face_folder))
    code, _, err = run(capsys, "hypersphere", "--n_components", "8", source, "-o", tmp_path / "out2", *FAST)
    assert code == 0, err
    assert (tmp_path / "out2" / source.name).is_file()
    # the space has 39 components
    code, _, err = run(capsys, "eigenface", "--n-components", "100", source, "-o", tmp_path / "out3", *FAST)
    assert code == 2 and "n_components must be an int in [1, 39]" in err


def test_trained_autoencoder_is_a_sub_command(photos, tmp_path, capsys, monkeypatch, data_folder):
    from facedid_lib.core import zoo
    from facedid_lib.nets import autoencoder

    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path / "cache"))
    source = photos / "058405.png"
    # the command reaches the network through the method's provider: the zoo's recipe is a tiny one meanwhile
    with zoo.override("autoencoder", autoencoder.AERecipe(size=16, code=8, width=4, epochs=1, patience=1)):
        code, _, err = run(capsys, "autoencoder", "--shrink", "0.5", "--faces", data_folder, source,
                           "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    check_deidentified(source, tmp_path / "out" / source.name, size=64)
    assert len(list((tmp_path / "cache").glob("autoencoder-*.pt"))) == 1  # trained once, cached
    code, _, err = run(capsys, "autoencoder", "--shrink", "2", source, "-o", tmp_path / "out2", *FAST)
    assert code == 2 and "shrink" in err


def test_face_space_without_faces(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FACEDID_DATA", raising=False)
    code, _, err = run(capsys, "eigenface", photos, "-o", tmp_path / "out", *FAST)
    assert code == 2 and "--faces" in err and "FACEDID_DATA" in err
    assert not (tmp_path / "out").exists()


def test_k_same_runs_once_on_all_faces(photos, tmp_path, capsys, monkeypatch):
    method = REGISTRY["k-same-pixel"]
    calls = []

    def spy(images, **params):
        calls.append(len(images))
        return method.fn(images, **params)

    monkeypatch.setitem(REGISTRY, "k-same-pixel", dataclasses.replace(method, fn=spy))
    before = snapshot(photos)
    code, out, err = run(capsys, "k-same-pixel", "--k", "2", photos, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    n_faces = sum(len(align.align_faces(read_image(photos / p), size=64, device="cpu")) for p in images(photos))
    assert calls == [n_faces] and n_faces >= 4
    for relative in images(photos):
        check_deidentified(photos / relative, tmp_path / "out" / relative, size=64)
    assert snapshot(photos) == before and "3 written" in out


def test_k_same_needs_k_faces(photos, tmp_path, capsys):
    code, out, err = run(capsys, "k-same-pixel", "--k", "3", photos / "058405.png", "-o", tmp_path / "out", *FAST)
    assert code == 1
    assert "at least k = 3 faces, got 2" in err and "nothing was written" in err
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_k_same_runs_the_photos_as_one_set_and_a_video_as_a_set_of_its_own(photos, tmp_path, capsys):
    """The photos' faces are one set (3 photos written); the clip of one person is a set of one
    track, too few for k = 2: it fails with the reason, and the photos are written all the same."""
    from facedid_lib.data.wild import sample_clip
    from facedid_lib.io.video import read_frames

    writer = cv2.VideoWriter(str(photos / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (176, 144))
    for frame in list(read_frames(sample_clip()))[:6]:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    code, out, err = run(capsys, "k-same-pixel", "--k", "2", photos, "-o", tmp_path / "out", *FAST)
    assert code == 1
    assert "clip.avi" in err and "runs once over the video's tracks (one face per person)" in err
    assert "3 written" in out and "1 failed" in out
    assert not (tmp_path / "out" / "clip.avi").exists()


# ------------------------------------------------------------------------------------------------
# the installed script


def test_entry_point(photos, tmp_path):
    script = Path(sys.executable).with_name("facedid")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "facedid_lib.cli"]
    result = subprocess.run([*command, "blur", str(photos / "058405.png"), "-o", str(tmp_path / "out"), *FAST],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 written" in result.stdout
    assert (tmp_path / "out" / "058405.png").is_file()


def test_generator_is_a_sub_command(photos, tmp_path, capsys, monkeypatch, data_folder):
    """``facedid ciagan`` asks the registry's provider for the generator and pastes its faces back."""
    from types import SimpleNamespace

    import torch

    from facedid_lib.nets import generator

    def small_gan(**kwargs):
        torch.manual_seed(0)
        made.append(kwargs)
        net = generator.ConditionalInpainter(16, 5, 4, width=4).eval()
        return SimpleNamespace(generator=net, n_identities=5, attributes=torch.zeros(10, 4, dtype=torch.bool),
                               identity=torch.arange(10) % 5)

    made = []
    monkeypatch.setattr(generator, "gan", small_gan)
    source = photos / "058405.png"
    for method in ("ciagan", "anonymousnet"):
        code, _, err = run(capsys, method, "--seed", "3", "--faces", data_folder, source, "-o", tmp_path / method,
                           *FAST)
        assert code == 0, err
        check_deidentified(source, tmp_path / method / source.name, size=64)
    assert [m["source"] for m in made] == [data_folder, data_folder]
