"""A property-based test (hypothesis) of the ``facedid`` command over folders of odd files.

Each example builds a small input folder from generated entries: a wild photo with faces, random
bytes, truncations of real files, PNG headers that declare random sizes, tiny images in odd modes
and formats (some with EXIF), partial files of a killed run, named pipes, text files, sub-folders,
and links to files, folders, nothing, themselves, ancestors and a folder outside. It runs
``facedid pixelate`` (HOG, 64-pixel chips) on it and checks what the command promises:

- the run ends with its summary line, and the exit status follows from it;
- every input is counted once, as written, skipped or failed (unreadable counts as failed): no
  path is both written and reported, or reported twice, the summary's numbers are those of the
  outputs and the reports, and every image or video name met on the way (links followed where the
  command did not skip them) is accounted for;
- no input changes, no temporary file is left, and no output shows a detected face unchanged.

The examples are derandomized (the same every run) and few, so that the test takes seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_cli import WILD

from facedid_lib import align, cli
from facedid_lib.io.images import is_temporary, read_image

pytestmark = pytest.mark.usefixtures("one_thread")

MEDIA = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".webp", ".mp4", ".avi")
SUFFIXES = (*MEDIA, ".txt", "")
SUMMARY = re.compile(r"^pixelate: (\d+) written to .* \((\d+) with no face found, written unchanged, (\d+) of them "
                     r"re-saved without metadata\), (\d+) skipped because the output exists .*, (\d+) inputs skipped "
                     r"\(.*\), (\d+) unreadable, (\d+) failed$")
REPORT = re.compile(r"^(skipped|unreadable|failed) (.+?): ")


class _Real(dict):
    """The bytes of a real photo by suffix, with a short repr (hypothesis prints its arguments)."""

    def __repr__(self) -> str:
        return f"<{WILD[0]} as {' and '.join(self)}>"


@pytest.fixture(scope="module")
def real(data_folder) -> dict[str, bytes]:
    """A wild photo with faces (the first of WILD) as JPEG and PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(read_image(data_folder / "wild" / WILD[0])).save(buffer, format="PNG")
    return _Real({".jpg": (data_folder / "wild" / WILD[0]).read_bytes(), ".png": buffer.getvalue()})


# ------------------------------------------------------------------------------------------------
# the entries of a folder, as data; build() makes them


sizes = st.sampled_from([0, 1, 2, 3, 17, 64, 65535, 20000, 2**31 - 1]) | st.integers(0, 2**32 - 1)
leaves = st.one_of(
    st.tuples(st.just("real"), st.sampled_from([".jpg", ".png"]), st.sampled_from(SUFFIXES)),
    st.tuples(st.just("bytes"), st.binary(max_size=200), st.sampled_from(SUFFIXES)),
    st.tuples(st.just("cut"), st.sampled_from([".jpg", ".png"]), st.floats(0, 1), st.sampled_from(MEDIA)),
    st.tuples(st.just("header"), sizes, sizes, st.sampled_from([".png", ".jpg"])),
    st.tuples(st.just("image"), st.sampled_from(["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F", "CMYK"]),
              st.integers(1, 40), st.integers(1, 40), st.booleans(),
              st.sampled_from([".png", ".jpg", ".bmp", ".tif", ".webp"])),
    st.tuples(st.just("partial"), st.sampled_from(MEDIA)),
    st.tuples(st.just("fifo"), st.sampled_from(MEDIA)),
    st.tuples(st.just("link"), st.sampled_from(["sibling", "missing", "self", "parent", "root", "outside",
                                                "outside-file", "chain"]),
              st.integers(0, 5), st.sampled_from(SUFFIXES)),
)
folders = st.recursive(st.lists(leaves, min_size=1, max_size=5), lambda inner: st.lists(leaves | inner, max_size=5),
                       max_leaves=12)


def _image(mode: str, width: int, height: int, with_exif: bool, suffix: str) -> bytes:
    rng = np.random.default_rng(width * 41 + height)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)
    exif = Image.Exif()
    exif[0x010F] = "maker"
    options = {"exif": exif.tobytes()} if with_exif else {}
    fmt = Image.registered_extensions()[suffix]
    for attempt in (image, image.convert("RGB")):  # a mode the format cannot hold: RGB
        buffer = io.BytesIO()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            attempt.save(buffer, format=fmt, **options)
            return buffer.getvalue()
    raise AssertionError(f"cannot save {mode} as {fmt}")


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + (0).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"x\x9c") + chunk(b"IEND", b"")


def build(folder: Path, entries, real: dict[str, bytes], root: Path, outside: Path) -> None:
    """Make ``entries`` in ``folder`` (made here): ``e<i><suffix>`` each (a sub-folder ``e<i>``), links last."""
    folder.mkdir()
    names = [f"e{i}" if isinstance(entry, list) else f"e{i}{entry[-1]}" for i, entry in enumerate(entries)]
    for name, entry in zip(names, entries):
        path = folder / name
        if isinstance(entry, list):
            build(path, entry, real, root, outside)
        elif entry[0] == "real":
            path.write_bytes(real[entry[1]])
        elif entry[0] == "bytes":
            path.write_bytes(entry[1])
        elif entry[0] == "cut":
            data = real[entry[1]]
            path.write_bytes(data[:int(len(data) * entry[2])])
        elif entry[0] == "header":
            path.write_bytes(_png_header(entry[1], entry[2]))
        elif entry[0] == "image":
            path.write_bytes(_image(*entry[1:]))
        elif entry[0] == "partial":
            (folder / f".{path.stem}.0123abcd.tmp{path.suffix}").write_bytes(b"half a file")
        elif entry[0] == "fifo":
            os.mkfifo(path)
    for name, entry in zip(names, entries):
        if isinstance(entry, list) or entry[0] != "link":
            continue
        how, index = entry[1], entry[2]
        target = {"sibling": names[index % len(names)], "missing": "nothing-here.png", "self": name, "parent": "..",
                  "root": os.path.relpath(root, folder), "outside": outside,
                  "outside-file": outside / "wall.png", "chain": f"e{index % len(names)}"}[how]
        (folder / name).symlink_to(target)


# ------------------------------------------------------------------------------------------------
# the invariants


def state(folder: Path) -> dict[str, object]:
    """Every path under ``folder`` (links not followed) with what it is: bytes, a link's target, a pipe."""
    found = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent, name)
            mode = path.lstat().st_mode
            found[str(path.relative_to(folder))] = (os.readlink(path) if stat.S_ISLNK(mode) else "fifo"
                                                    if stat.S_ISFIFO(mode) else "folder" if stat.S_ISDIR(mode)
                                                    else path.read_bytes())
    return found


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if is_temporary(p))


def accounted_for(folder: Path, relative: Path, done: set[str], reported: set[str], output: Path,
                  depth: int = 0) -> None:
    """Assert that every image or video name and every broken link under ``folder`` (reached as
    ``relative``) is written or reported, following the links to folders the command did not report
    as skipped; the output folder (made after the inputs were searched) is left out."""
    assert depth < 12, f"{relative}: the command followed links too deep"
    with os.scandir(folder) as listing:
        names = sorted(entry.name for entry in listing)
    for name in names:
        path, key = folder / name, (relative / name).as_posix()
        if key in reported or path.resolve() == output.resolve():
            continue
        if path.is_dir():
            accounted_for(path, relative / name, done, reported, output, depth + 1)
        elif path.suffix.lower() in MEDIA or (path.is_symlink() and not path.exists()):
            assert key in done, f"{key}: neither written nor reported"


def first_frame(path: Path) -> np.ndarray:
    """A photo, or a video's first frame (OpenCV also reads some image files as one-frame videos)."""
    if path.suffix.lower() in cli.IMAGE_SUFFIXES:
        return read_image(path)
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok, path
    return np.ascontiguousarray(frame[:, :, ::-1])


def check_faces_hidden(source: Path, target: Path) -> None:
    """No face that HOG finds in ``source`` (its first frame) is unchanged in ``target``. A video is
    re-encoded (lossy), so a face must change by more than the codec changes the rest."""
    before, after = first_frame(source), first_frame(target)
    assert after.shape == before.shape, target
    if min(before.shape[:2]) < 2:
        return
    found = align.align_faces(before, size=64, device="cpu")
    masks = align.photo_masks(before, found.transforms, size=64, device="cpu").numpy()
    change = np.abs(after.astype(int) - before).mean(axis=2)
    noise = change[masks.max(0) == 0].mean() if len(masks) else 0
    for mask in masks:
        assert change[mask > 0.9].mean() > 1 + 2 * noise, f"{target}: a face is unchanged"


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(entries=folders)
def test_facedid_on_odd_folders(real, tmp_path_factory, entries):
    base = tmp_path_factory.mktemp("fuzz")
    outside = base / "outside"
    outside.mkdir()
    (outside / "wall.png").write_bytes(real[".png"])
    (outside / "back").symlink_to(base / "in")
    root = base / "in"
    build(root, [("real", ".jpg", ".jpg"), *entries], real, root, outside)
    before, inputs_before = state(base), temporaries(base)

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["pixelate", str(root), "-o", str(base / "out"), "--size", "64", "-q",
                         "--detector", "hog", "--region", "inner"])
    out, err = stdout.getvalue(), stderr.getvalue()

    summary = SUMMARY.match(out.strip().splitlines()[-1])
    assert summary, out + err
    written, no_face, resaved, existing, skipped, unreadable, failed = map(int, summary.groups())
    assert code == (1 if unreadable or failed else 0), err
    outputs = {p.relative_to(base / "out").as_posix() for p in (base / "out").rglob("*")
               if p.is_file() and p.name != cli.MANIFEST}
    reports = [(m.group(1), Path(m.group(2)).relative_to(root).as_posix()) for line in err.splitlines()
               if (m := REPORT.match(line))]
    reported = [path for _, path in reports]
    assert len(reported) == len(set(reported)), err
    assert not outputs & set(reported), err
    assert (written, existing) == (len(outputs), 0) and no_face >= resaved
    assert (skipped, unreadable, failed) == tuple(sum(kind == k for kind, _ in reports)
                                                  for k in ("skipped", "unreadable", "failed")), err
    accounted_for(root, Path(), outputs | set(reported), set(reported), base / "out")

    assert {k: v for k, v in state(base).items() if k.split("/")[0] != "out"} == before
    assert temporaries(base) == inputs_before
    for relative in outputs:
        check_faces_hidden(root / relative, base / "out" / relative)
