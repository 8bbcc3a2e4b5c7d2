"""The ``facedid`` command on hostile inputs: decompression bombs, links, an output folder inside
an input folder, partial files of killed runs, 16-bit images, truncated videos, read-only output
folders, tiny images, photos without a face (and with metadata).

The fixtures and helpers are those of tests/test_cli.py: ``photos`` is a fresh folder of PNG
copies of three wild photos with two faces each.
"""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from test_cli import FAST, check_deidentified, images, originals, photos, run, snapshot  # noqa: F401

from facedid_lib import cli
from facedid_lib.io.images import is_temporary, read_image
from facedid_lib.io import metadata

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = os.geteuid() == 0  # root reads and writes whatever the permissions say


def leftover_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if is_temporary(p)]


def png_of_size(width: int, height: int, pixels: bool = True) -> bytes:
    """A grey PNG that declares ``width`` x ``height``; its pixel data compressed (tiny), or none."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = b""
    if pixels:
        packer, row = zlib.compressobj(9), bytes(width + 1)  # filter byte and a black row
        data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def count(out: str, what: str) -> int:
    """A number of the summary line: ``count(out, "written")``, ``count(out, "inputs skipped")``..."""
    return int(re.search(rf"(\d+) {what}", out.strip().splitlines()[-1]).group(1))


def make_video(path: Path, frames: int, fourcc: str = "MJPG") -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 5, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()


def frame_count(path: Path) -> int:
    capture, frames = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


# ------------------------------------------------------------------------------------------------
# 1. decompression bombs


def test_decompression_bomb_is_unreadable_and_the_run_goes_on(photos, tmp_path, capsys):
    bomb = png_of_size(20000, 10000)
    assert len(bomb) < 300_000
    (photos / "bomb.png").write_bytes(bomb)
    code, out, err = run(capsys, "blur", photos, "-o", tmp_path / "out", *FAST)
    assert code == 1
    assert "unreadable" in err and "bomb.png" in err and "MAX_IMAGE_PIXELS" in err
    assert count(out, "written") == 3 and count(out, "unreadable") == 1  # the files after it were done
    assert images(tmp_path / "out") == [p for p in images(photos) if p.name != "bomb.png"]


# over twice the limit Pillow raises DecompressionBombError, over the limit it warns: both are refused
@pytest.mark.parametrize("width, height", [(20000, 10000), (10000, 10000)])
def test_read_image_refuses_images_over_the_pixel_limit(tmp_path, width, height):
    (tmp_path / "big.png").write_bytes(png_of_size(width, height, pixels=False))
    with pytest.raises(ValueError, match=r"big.png.*more pixels than PIL.Image.MAX_IMAGE_PIXELS = 89,478,485"):
        read_image(tmp_path / "big.png")


def test_a_48_megapixel_photo_reads(tmp_path):
    (tmp_path / "camera.png").write_bytes(png_of_size(8000, 6000))
    assert read_image(tmp_path / "camera.png").shape == (6000, 8000, 3)


# ------------------------------------------------------------------------------------------------
# 2. links, loops, repeated files, folders that cannot be listed


def test_symlinked_folder_is_followed_once(photos, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(photos / "sub" / "138700.png", elsewhere / "138700.png")
    (photos / "linked").symlink_to(elsewhere)
    (photos / "more").symlink_to(elsewhere)  # a second way to the same folder
    (photos / "sub" / "up").symlink_to("..")  # a loop
    (elsewhere / "back").symlink_to(photos)  # a loop through the followed folder
    code, out, err = run(capsys, "blur", photos, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert images(tmp_path / "out") == [Path("058405.png"), Path("077945.png"), Path("linked/138700.png")]
    check_deidentified(elsewhere / "138700.png", tmp_path / "out" / "linked" / "138700.png", size=64)
    assert f"skipped {photos / 'more'}: the folder is searched as {photos / 'linked'}" in err
    assert f"skipped {photos / 'sub' / 'up'}: a link loop back to {photos.resolve()}" in err
    assert f"skipped {photos / 'linked' / 'back'}: the folder is searched as {photos}" in err
    assert count(out, "inputs skipped") == 3 and count(out, "written") == 3


def test_real_paths_win_over_links(photos, tmp_path, capsys):
    """A link met first in name order does not take a file or folder that the inputs hold anyway."""
    (photos / "a_link.png").symlink_to(photos / "sub" / "138700.png")
    (photos / "a_sub").symlink_to("sub")
    code, out, err = run(capsys, "blur", photos, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert images(tmp_path / "out") == [Path("058405.png"), Path("077945.png"), Path("sub/138700.png")]
    assert f"skipped {photos / 'a_link.png'}: the same file as {photos / 'sub' / '138700.png'}" in err
    assert f"skipped {photos / 'a_sub'}: the folder is searched as {photos / 'sub'}" in err


def test_broken_links_and_odd_files_are_reported(photos, tmp_path, capsys):
    (photos / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (photos / "loop.jpg").symlink_to("loop.jpg")
    (photos / "gone").symlink_to(tmp_path / "no-folder")
    os.link(photos / "058405.png", photos / "hard.png")
    os.mkfifo(photos / "pipe.jpg")
    code, out, err = run(capsys, "pixelate", photos, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert f"skipped {photos / 'dangling.jpg'}: a dangling link to {tmp_path / 'nowhere.jpg'}" in err
    assert f"skipped {photos / 'loop.jpg'}: a link loop" in err
    assert f"skipped {photos / 'gone'}: a dangling link" in err
    assert f"skipped {photos / 'hard.png'}: the same file as {photos / '058405.png'}" in err
    assert f"skipped {photos / 'pipe.jpg'}: not a regular file" in err
    assert count(out, "written") == 3 and count(out, "inputs skipped") == 5


def test_unreadable_folder_counts_as_unreadable(photos, tmp_path, capsys, monkeypatch):
    locked = photos / "sub"
    if ROOT:  # root lists any folder: make the system refuse
        listing = os.scandir

        def scandir(path="."):
            if Path(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return listing(path)

        monkeypatch.setattr(os, "scandir", scandir)
    locked.chmod(0)
    try:
        code, out, err = run(capsys, "blur", photos, "-o", tmp_path / "out", *FAST)
    finally:
        locked.chmod(0o755)
    assert code == 1
    assert f"unreadable {locked}: cannot list the folder (Permission denied)" in err
    assert count(out, "written") == 2 and count(out, "unreadable") == 1


# ------------------------------------------------------------------------------------------------
# 3. an output folder inside an input folder


def test_output_folder_inside_with_foreign_photos_is_refused(photos, capsys):
    out = photos / "out"
    out.mkdir()
    shutil.copy(photos / "058405.png", out / "mine.png")  # a real photo, never de-identified
    before = snapshot(photos)
    code, _, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 2
    flat = " ".join(err.split())
    assert f"the output folder {out} lies inside an input folder" in flat and str(out / "mine.png") in flat
    assert "Move them out" in flat
    assert snapshot(photos) == before  # nothing written


def test_output_folder_inside_keeps_a_manifest(photos, capsys):
    out = photos / "out"
    code, _, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 0, err
    assert (out / cli.MANIFEST).read_text().splitlines() == ['"058405.png"', '"077945.png"', '"sub/138700.png"']
    code, out_text, err = run(capsys, "blur", "--overwrite", photos, "-o", out, *FAST)  # a re-run still works
    assert code == 0 and "ignored 3 file(s)" in err and count(out_text, "written") == 3
    (out / "sub" / "138700.png").write_bytes((photos / "sub" / "138700.png").read_bytes())  # still listed
    shutil.copy(photos / "058405.png", out / "sub" / "new.png")
    (out / "link.png").symlink_to(photos / "058405.png")
    code, _, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 2 and "holds 2 image(s)" in err and "new.png" in err and "link.png" in err


def test_output_folder_reached_through_a_link_is_not_searched(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (photos / "out").symlink_to(out)
    (photos / "earlier.png").symlink_to(out / "058405.png")  # dangling now, an output later
    code, out_text, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 0, err
    for link in ("out", "earlier.png"):
        assert f"skipped {photos / link}: a link into the output folder {out}" in err
    assert count(out_text, "written") == 3 and count(out_text, "inputs skipped") == 2
    assert (out / cli.MANIFEST).is_file()
    code, out_text, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 0 and count(out_text, "skipped because the output exists") == 3, err
    shutil.copy(photos / "058405.png", out / "foreign.png")
    code, _, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 2 and "foreign.png" in err


# ------------------------------------------------------------------------------------------------
# 4. partial files of killed runs


def test_partial_files_are_no_inputs_and_are_removed_from_the_output(photos, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [out / ".058405.0123abcd.tmp.png", out / "sub" / ".clip.89abcdef.tmp.mp4"]
    for path in stale:
        path.write_bytes(b"half a file")
    partial = photos / ".077945.deadbeef.tmp.png"
    partial.write_bytes(b"half a file")
    code, out_text, err = run(capsys, "blur", photos, "-o", out, *FAST)
    assert code == 0, err
    for path in stale:
        assert not path.exists() and f"removed {path}: a partial file of a killed facedid run" in err
    assert f"skipped {partial}: a partial file of a killed facedid run" in err and partial.exists()
    assert count(out_text, "written") == 3 and count(out_text, "inputs skipped") == 1
    assert not leftover_temporaries(out)


_SLOW_WRITER = """
import sys, time
from PIL import Image
from facedid_lib import cli

save = Image.Image.save

def slow_save(self, file, *args, **kwargs):  # write the photo, then hang while its temporary file exists
    save(self, file, *args, **kwargs)
    file.flush()
    time.sleep(120)

Image.Image.save = slow_save
sys.exit(cli.main(sys.argv[1:]))
"""


def _run_until_writing(photos: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    """Start facedid in a process whose first photo write hangs; return it and the temporary file."""
    process = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, "pixelate", str(photos), "-o", str(out), *FAST],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (partial := leftover_temporaries(out) if out.is_dir() else []):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.05)
    return process, partial[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_the_temporary_file_and_summarises(photos, tmp_path, signum):
    out = tmp_path / "out"
    process, partial = _run_until_writing(photos, out)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {signum.name}: 3 of 3 file(s) not processed; no partial file is left" in stderr
    assert stdout.strip().splitlines()[-1].startswith("pixelate: 0 written to")
    assert not partial.exists() and not leftover_temporaries(out)
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_sigkill_leaves_a_partial_file_that_the_next_run_removes(photos, tmp_path, capsys):
    out = tmp_path / "out"
    process, partial = _run_until_writing(photos, out)
    process.kill()
    process.communicate(timeout=60)
    assert partial.exists()  # nothing can clean up after SIGKILL...
    code, out_text, err = run(capsys, "pixelate", photos, "-o", out, *FAST)
    assert code == 0, err
    assert f"removed {partial}: a partial file of a killed facedid run" in err  # ...but the next run does
    assert not leftover_temporaries(out) and count(out_text, "written") == 3


# ------------------------------------------------------------------------------------------------
# 5. high bit depths


def test_16_bit_grayscale_is_scaled(tmp_path, capsys):
    ramp = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    expected = np.repeat(np.round(ramp / 257).astype(np.uint8)[:, :, None], 3, axis=2)
    cv2.imwrite(str(tmp_path / "ramp16.png"), ramp)  # Pillow opens it as I;16
    cv2.imwrite(str(tmp_path / "ramp16.pgm"), ramp)  # as I
    Image.fromarray((ramp / 65535).astype(np.float32)).save(tmp_path / "ramp32.tif")  # as F
    Image.fromarray(ramp.astype(np.int32) * 1000 - 5).save(tmp_path / "wide.tif")  # I beyond 16 bits: stretched
    assert Image.open(tmp_path / "ramp16.png").mode == "I;16" and Image.open(tmp_path / "ramp16.pgm").mode == "I"
    for name in ("ramp16.png", "ramp16.pgm", "ramp32.tif", "wide.tif"):
        assert np.abs(read_image(tmp_path / name).astype(int) - expected).max() <= 1, name
    code, out, err = run(capsys, "pixelate", tmp_path / "ramp16.png", "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert count(out, "with no face found") == 1
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "ramp16.png"), expected)  # not white


# ------------------------------------------------------------------------------------------------
# 9. empty paths, truncated videos, read-only output folders, tiny images, photos without a face


@pytest.mark.parametrize("argv", [["{photo}", "-o", ""], ["", "-o", "{out}"]])
def test_empty_paths_are_bad_arguments(photos, tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    names = dict(photo=photos / "058405.png", out=tmp_path / "out")
    code, _, err = run(capsys, "blur", *[a.format(**names) for a in argv])
    assert code == 2 and "an empty path names no file or folder" in err
    assert list(tmp_path.iterdir()) == [photos]


def test_truncated_video_is_written_short_with_a_warning(tmp_path, capsys):
    make_video(tmp_path / "whole.mkv", 10)
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[:len(data) * 6 // 10])
    readable = frame_count(tmp_path / "cut.mkv")
    assert 0 < readable < 10
    code, out, err = run(capsys, "blur", tmp_path / "cut.mkv", tmp_path / "whole.mkv", "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert f"warning {tmp_path / 'cut.mkv'}: src_path: {tmp_path / 'cut.mkv'} declares 10 frames but only " \
           f"{readable} could be read" in err
    assert "whole.mkv" not in err
    assert frame_count(tmp_path / "out" / "cut.mkv") == readable and frame_count(tmp_path / "out" / "whole.mkv") == 10
    assert count(out, "written") == 2


@pytest.mark.parametrize("below", ["", "new/folder"])  # the output folder, or one to be made in it
def test_read_only_output_folder_is_a_bad_argument(photos, tmp_path, capsys, monkeypatch, below):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if ROOT:  # root writes into any folder: make the system refuse
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    try:
        code, out_text, err = run(capsys, "blur", photos, "-o", locked / below, *FAST)
    finally:
        locked.chmod(0o755)
    assert code == 2
    where = f" (nothing can be made in {locked})" if below else ""
    assert f"cannot write in the output folder {locked / below}{where}: Permission denied" in " ".join(err.split())
    assert out_text == "" and "failed" not in err and not list(locked.iterdir())


def test_one_pixel_image_has_no_face(tmp_path, capsys):
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    Image.new("L", (1, 7)).save(tmp_path / "line.jpg")
    code, out, err = run(capsys, "blur", tmp_path / "dot.png", tmp_path / "line.jpg", "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert count(out, "written") == 2 and count(out, "with no face found") == 2 and count(out, "failed") == 0
    for name in ("dot.png", "line.jpg"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / name).read_bytes()


def test_photo_without_a_face_is_copied_byte_for_byte(tmp_path, capsys):
    wall = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(wall).save(tmp_path / "wall.jpg", quality=80)
    code, out, err = run(capsys, "pixelate", tmp_path / "wall.jpg", "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert (tmp_path / "out" / "wall.jpg").read_bytes() == (tmp_path / "wall.jpg").read_bytes()
    assert "1 with no face found, written unchanged, 0 of them re-saved without metadata" in out


def test_photo_without_a_face_but_with_metadata_is_re_saved_without_it(tmp_path, capsys):
    wall = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 30.0)  # a GPS latitude
    Image.fromarray(wall).save(tmp_path / "wall.jpg", exif=exif.tobytes(), comment=b"at home")
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "me")
    Image.fromarray(wall).save(tmp_path / "wall.png", pnginfo=text)
    code, out, err = run(capsys, "pixelate", tmp_path / "wall.jpg", tmp_path / "wall.png", "-o", tmp_path / "out",
                         *FAST)
    assert code == 0, err
    assert f"no face in {tmp_path / 'wall.jpg'}: {tmp_path / 'out' / 'wall.jpg'} re-saved without metadata " \
           "(it has EXIF, a comment)" in err
    assert "(it has text)" in err
    assert "2 with no face found, written unchanged, 2 of them re-saved without metadata" in out
    for name in ("wall.jpg", "wall.png"):
        written = (tmp_path / "out" / name).read_bytes()
        assert metadata.resave_reason(written, Path(name).suffix) is None  # nothing but the image
        assert not Image.open(io.BytesIO(written)).getexif()
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "wall.png"), wall)  # PNG: lossless


# ------------------------------------------------------------------------------------------------
# the metadata scanner


def _encoded(fmt: str, **options) -> bytes:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")])
def test_resave_reason(fmt, suffix):
    exif = Image.Exif()
    exif[0x010F] = "maker"
    assert metadata.resave_reason(_encoded(fmt), suffix) is None
    assert metadata.resave_reason(_encoded(fmt), suffix.upper()) is None
    assert metadata.resave_reason(_encoded(fmt, exif=exif.tobytes()), suffix) == "it has EXIF"
    assert metadata.resave_reason(_encoded(fmt, icc_profile=b"p" * 200), suffix) == "it has an ICC profile"
    assert metadata.resave_reason(_encoded(fmt) + b"appended", suffix) == "it has data after the image"
    assert "cut-off" in metadata.resave_reason(_encoded(fmt)[:-30], suffix) or \
        "no " in metadata.resave_reason(_encoded(fmt)[:-30], suffix)
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    if fmt != "JPEG":
        buffer = io.BytesIO()
        frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:])
        assert metadata.resave_reason(buffer.getvalue(), suffix) == "it has more frames (an animation)"
    other = ".png" if suffix != ".png" else ".jpg"
    assert "not the" in metadata.resave_reason(_encoded(fmt), other)
    assert "not one of the formats checked" in metadata.resave_reason(_encoded(fmt), ".tif")


def test_resave_reason_reads_a_progressive_jpeg_to_its_end():
    assert metadata.resave_reason(_encoded("JPEG", progressive=True), ".jpg") is None
    assert metadata.resave_reason(_encoded("JPEG", comment=b"hello"), ".jpg") == "it has a comment"
    assert metadata.resave_reason(_encoded("JPEG", progressive=True)[:-2], ".jpg") == "it has no end-of-image marker"
