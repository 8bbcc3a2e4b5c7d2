"""The run of the ``facedid`` command (:mod:`facedid_lib.cli`): inputs, outputs, the pipeline.
This module imports the library; :func:`facedid_lib.cli.main` imports it only when a run needs it."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from facedid_lib import pipeline
from facedid_lib.align import AlignedFaces
from facedid_lib.cli.parser import (EXIT_FAILED, EXIT_LEFT, EXIT_OK, IMAGE_SUFFIXES, MANIFEST, VIDEO_SUFFIXES,
                                    build_parser)
from facedid_lib.core import config
from facedid_lib.detect import Detections, detect
from facedid_lib.io import images, metadata
from facedid_lib.methods import REGISTRY, Method, provide
_SMALLEST = 2  # the face functions take photos of 2 x 2 pixels and more; a smaller one holds no face


# ------------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class _Job:
    """One input file and the output it is written to."""

    source: Path
    target: Path
    video: bool
    fresh: bool = False  # its output did not exist when the run began (the Ray engine: a retried batch)


#: Where a Ray worker keeps its messages, to return them to the driver (:func:`cluster_worker`); None: printed.
_CAPTURED: list | None = None


def _report(message: str) -> None:
    """A message on stderr that does not break the progress bar (on a Ray worker: kept for the driver)."""
    if _CAPTURED is not None:
        _CAPTURED.append(message)
        return
    tqdm.write(message, file=sys.stderr)


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def _identity(path: Path) -> tuple[int, int]:
    """The file itself (device, inode): equal for two names of one file (links, case, ``..``)."""
    info = path.stat()
    return info.st_dev, info.st_ino


def _real(path: Path) -> Path:
    """``path`` with its links resolved as far as they go (unlike Path.resolve, no error on a link loop)."""
    return Path(os.path.realpath(path))


class _Walk:
    """One walk over the inputs: the media files to process, and every path left out, named on stderr.

    A file or folder is taken once, by the first path that reaches it. The real (not linked) paths
    under the inputs claim their files and folders before the walk starts, so a link met earlier
    never takes a file or folder away from its own path. The output folder is not searched.
    """

    def __init__(self, output: Path):
        self.output, self.output_id = _real(output), _identity(output) if output.is_dir() else None
        self.owners: dict[tuple[int, int], Path] = {}  # file or folder -> the path that takes it
        self.taken: set[tuple[int, int]] = set()
        self.found: list[tuple[Path, Path]] = []  # (path, path relative to its input)
        self.skipped = 0
        self.unreadable = 0
        self.output_met = False  # the output folder lies inside an input folder

    def skip(self, path: Path, why: str) -> None:
        self.skipped += 1
        _report(f"skipped {path}: {why}")

    def _is_output(self, path: Path) -> bool:
        with contextlib.suppress(OSError):
            return _identity(path) == self.output_id
        return False

    def claim(self, given: Path) -> None:
        """Make the input ``given`` and the real folders and files under it the owners of themselves."""
        self.owners.setdefault(_identity(given), given)
        for folder, dirs, files in os.walk(given):  # nothing for a file; links are listed, not followed
            dirs[:] = sorted(name for name in dirs if not self._is_output(Path(folder, name)))
            for path in [Path(folder), *(Path(folder, name) for name in sorted(files))]:
                if not path.is_symlink():
                    with contextlib.suppress(OSError):
                        self.owners.setdefault(_identity(path), path)

    def folder(self, root: Path) -> None:
        """Search the input folder ``root``, depth first, in name order."""
        if not self._take_folder(root):
            return
        stack = [(root, Path())]
        while stack:
            folder, relative = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    names = sorted(entry.name for entry in listing)
            except OSError as err:
                self.unreadable += 1
                _report(f"unreadable {folder}: cannot list the folder ({err.strerror or err})")
                continue
            below = [(folder / name, relative / name) for name in names if self.entry(folder / name, relative / name)]
            stack.extend(reversed(below))

    def entry(self, path: Path, relative: Path) -> bool:
        """Take, skip or ignore one path of a folder; True for a folder to search."""
        if path.is_symlink() and (self.output == _real(path) or self.output in _real(path).parents):
            self.output_met = True  # the output folder is reached from an input folder
            self.skip(path, f"a link into the output folder {self.output}")
            return False
        try:
            info = path.stat()
        except OSError as err:
            if path.is_symlink():
                dangling = f"a dangling link to {os.readlink(path)}"
                self.skip(path, "a link loop" if err.errno == errno.ELOOP else dangling)
            else:
                self.unreadable += 1
                _report(f"unreadable {path}: {err.strerror or err}")
            return False
        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) == self.output_id:
                self.output_met = True
                return False
            return self._take_folder(path)
        if _is_media(path):
            self.file(path, relative, info)
        return False

    def _take_folder(self, path: Path) -> bool:
        """True when the folder ``path`` is to be searched; False (and skipped) when it was reached before."""
        identity = _identity(path)
        owner = self.owners.setdefault(identity, path)
        if identity not in self.taken and owner == path:
            self.taken.add(identity)
            return True
        target, here = _real(path), _real(path.parent)
        if path.is_symlink() and (target == here or target in here.parents):
            self.skip(path, f"a link loop back to {target}")
        else:
            self.skip(path, f"the folder is searched as {owner}")
        return False

    def file(self, path: Path, relative: Path, info: os.stat_result) -> None:
        """Take the media file ``path`` (``info``: its stat) unless it is to be skipped."""
        identity = (info.st_dev, info.st_ino)
        owner = self.owners.setdefault(identity, path)
        if not stat.S_ISREG(info.st_mode):
            self.skip(path, "not a regular file (a named pipe, a socket or a device)")
        elif images.is_temporary(path):
            self.skip(path, "a partial file of a killed facedid run")
        elif identity in self.taken or owner != path:
            self.skip(path, f"the same file as {owner}")
        else:
            self.taken.add(identity)
            self.found.append((path, relative))


# ------------------------------------------------------------------------------------------------
# the output folder


class _Manifest:
    """The outputs facedid wrote in an output folder that lies inside an input folder.

    The file ``.facedid-manifest`` in that folder holds one JSON string per line, an output's path
    relative to the folder. The line is appended before the output is written, so even a killed
    run leaves no output unlisted; a cut-off last line is ignored.
    """

    def __init__(self, folder: Path):
        self.folder, self.path = folder, folder / MANIFEST

    def read(self) -> set[str]:
        """The relative paths listed (OSError when the manifest cannot be read)."""
        listed = set()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):  # a line cut off by a killed run
                    entry = json.loads(line)
                    if isinstance(entry, str):
                        listed.add(entry)
        return listed

    def add(self, target: Path) -> None:
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(target.relative_to(self.folder).as_posix()) + "\n")


def _unlisted(output: Path, listed: set[str]) -> tuple[list[Path], int]:
    """The images, videos and links under ``output`` that facedid did not write (and folders it cannot
    list), and how many images and videos it did write (listed)."""
    unlisted, ours = [], 0
    for folder, dirs, files in os.walk(output, onerror=lambda err: unlisted.append(Path(err.filename))):
        dirs.sort()
        for path in sorted(Path(folder, name) for name in dirs + files):
            if path.is_symlink():
                unlisted.append(path)
            elif path.name in files and _is_media(path) and not images.is_temporary(path):
                if path.relative_to(output).as_posix() in listed:
                    ours += 1
                else:
                    unlisted.append(path)
    return unlisted, ours


def _output_inside(inputs: list[Path], output: Path, walk: _Walk, error) -> _Manifest | None:
    """The manifest of an output folder that lies inside an input folder (None when it does not);
    ``error`` (exit 2) when that folder holds images or videos facedid did not write."""
    folders = [_real(given) for given in inputs if given.is_dir()]
    if not (walk.output_met or any(folder in walk.output.parents for folder in folders)):
        return None
    manifest = _Manifest(output)
    if output.is_dir():
        try:
            unlisted, ours = _unlisted(output, manifest.read())
        except OSError as err:
            error(f"cannot read the manifest {manifest.path} of the output folder: {err.strerror or err}")
        if unlisted:
            names = ", ".join(map(str, unlisted[:5])) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else "")
            error(f"the output folder {output} lies inside an input folder and holds {len(unlisted)} image(s), "
                  f"video(s) or link(s) that facedid did not write ({names}; its outputs are listed in "
                  f"{manifest.path}): they would be neither de-identified nor told apart from the outputs. Move "
                  "them out of it, or choose an output folder outside the inputs")
        if ours:
            _report(f"ignored {ours} file(s) in the output folder {output}: facedid wrote them (listed in "
                    f"{manifest.path})")
    return manifest


@dataclass
class _Plan:
    """What a run does: its jobs, how many inputs the walk left out, the manifest to keep (or None)."""

    jobs: list[_Job]
    skipped: int
    unreadable: int
    manifest: _Manifest | None


def _collect(inputs: list[Path], output: Path, error) -> _Plan:
    """The files to process and their outputs; ``error`` (exit 2) on a bad or unsafe path."""
    if output.exists() and not output.is_dir():
        error(f"the output {output} exists and is not a folder")
    walk = _Walk(output)
    for given in inputs:
        if not given.exists():
            error(f"input {given} does not exist")
        if not (given.is_dir() or _is_media(given)):
            error(f"input {given} is neither an image ({' '.join(IMAGE_SUFFIXES)}) nor a video "
                  f"({' '.join(VIDEO_SUFFIXES)})")
        walk.claim(given)
    for given in inputs:
        if given.is_dir():
            walk.folder(given)
        else:
            walk.file(given, Path(given.name), given.stat())
    if not (walk.found or walk.skipped or walk.unreadable):
        error(f"no image or video file found in {' '.join(map(str, inputs))}")
    jobs, targets = [], {}
    for path, relative in walk.found:
        target = output / relative
        if _real(target) in targets:
            error(f"{path} and {targets[_real(target)]} would both be written to {target}")
        targets[_real(target)] = path
        jobs.append(_Job(path, target, path.suffix.lower() in VIDEO_SUFFIXES))
    for job in jobs:
        if job.target.exists() and _identity(job.target) in walk.taken:
            error(f"the output {job.target} would overwrite an input: choose an output folder that holds no input")
    return _Plan(jobs, walk.skipped, walk.unreadable, _output_inside(inputs, output, walk, error))


def _remove_partial_files(output: Path) -> None:
    """Remove the partial files that killed runs left in the output folder, naming each on stderr."""
    for folder, _, files in os.walk(output):
        for path in sorted(Path(folder, name) for name in files if images.is_temporary(name)):
            try:
                path.unlink()
                _report(f"removed {path}: a partial file of a killed facedid run")
            except OSError as err:
                _report(f"cannot remove {path}, a partial file of a killed facedid run: {err.strerror or err}")


# ------------------------------------------------------------------------------------------------
# checks before anything is written


def _device(text: str | None, error) -> torch.device:
    """The ``--device`` as a torch device that works here."""
    try:
        device = config.resolve_device(text)
        torch.zeros(1, device=device)
    except (RuntimeError, AssertionError) as err:
        error(f"--device {text}: {err}")
    return device


def usable_cores() -> int:
    """The CPU cores this process may really use: its affinity, capped by a cgroup's CPU quota
    (a container's ``cpu.max``), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError, IndexError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) // int(period))))
    return max(1, cores)


def _set_threads(threads: int | None) -> int:
    """Share ``threads`` CPU threads (None: :func:`usable_cores`) between the detector and the method;
    return the number.

    With two or more, the next photo's faces are located in a thread of their own while the method
    covers this one (:func:`_ahead`): OpenCV's detectors get every thread, torch one fewer. On 2
    cores that was the fastest split measured (160 wild photos, ``facedid blur``: 3.9 s, against 5.1 s
    with both libraries at 2 threads and nothing ahead, 5.9 s with torch at 2 and one photo ahead).
    """
    import cv2

    threads = threads or usable_cores()
    torch.set_num_threads(max(1, threads - 1))
    cv2.setNumThreads(threads)
    return threads


def _ahead(threads: int) -> int:
    """How many photos' faces are located ahead, in a thread of their own: one where there are two threads."""
    return 1 if threads > 1 else 0


def _runner(args, method: Method):
    """What the pipeline runs: the method itself for the head (its head form takes the command's
    parameters), or on the chips its command form, lengths turned into the chip's pixels."""
    return method.for_command(args.cover, args.size)


def _context(args, method: Method, params: dict, device: torch.device, error) -> dict:
    """What ``method`` needs besides its parameters, made by its providers from ``--faces``."""
    if not method.needs:
        return {}
    if args.faces is None and config.data_dir() is None:
        error(f"{args.method} needs training faces for its {' and '.join(method.needs)}: pass --faces DIR "
              "(a face folder as facedid_lib.data.facesets.load_faces reads it) or set FACEDID_DATA")
    if not args.quiet:
        tqdm.write(f"making the {' and '.join(method.needs)} of {args.method} from the faces of "
                   f"{args.faces or config.data_dir()}", file=sys.stderr)
    try:
        return provide(method, args.faces, size=args.size, device=device, progress=not args.quiet, **params)
    except (OSError, ValueError) as err:
        error(f"--faces: {err}")


def _check_writable(output: Path, error) -> None:
    """``error`` (exit 2) unless a file can be made in the output folder, or, while it is still to be
    made, in the nearest folder above it that exists. The probe is an unnamed temporary file where
    the system allows (Linux), else one removed at once."""
    folder = output
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        where = "" if folder == output else f" (nothing can be made in {folder})"
        error(f"cannot write in the output folder {output}{where}: {err.strerror or err}")


def _prepare(args, method: Method, params: dict, error) -> tuple[torch.device, dict]:
    """Check the output folder, device, detector and parameters; return the device and the method's ``needs``.

    A folder that cannot be written is a bad argument, found first (before a method trains for
    minutes). A method that sees one photo at a time runs once on a grey chip here, so a parameter
    that does not suit the chip size (``svd --rank 100 --size 64``) is a bad argument, not a
    failure on every photo. The output folder is made last; then the partial files that killed runs
    left in it are removed.
    """
    _check_writable(args.output, error)
    device = _device(args.device, error)
    if args.cover == "head":
        try:
            pipeline.head_params(method, params)
        except ValueError as err:
            error(f"--region head: {err}")
    if args.report is not None:
        _check_writable(args.report.parent, error)
    try:
        detect(np.zeros((32, 32, 3), np.uint8), args.detector)
    except (RuntimeError, OSError, ValueError, ImportError) as err:
        error(f"--detector {args.detector}: {err}")
    context = _context(args, method, params, device, error)
    if args.cover == "head":
        if method.head_sees == "region":  # (an attack on the whole scene is not tried: its ranges were checked)
            try:  # a grey head at its defaults: a parameter that does not suit it is a bad argument
                method.head(torch.full((1, 3, 48, 48), 0.5, device=device), **method.to_pixels(params, 24.0))
            except ValueError as err:
                error(f"{method.name}: {err}")
    elif not method.whole_set:
        try:
            _runner(args, method)(torch.full((1, 3, args.size, args.size), 0.5, device=device), **context, **params)
        except ValueError as err:
            error(f"{method.name}: {err}")
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        error(f"cannot make the output folder {args.output}: {err}")
    _remove_partial_files(args.output)
    return device, context


# ------------------------------------------------------------------------------------------------
# running


@dataclass
class _Tally:
    """What happened to the inputs, for the summary and the exit status."""

    method: str
    output: Path
    written: int = 0
    no_face: int = 0  # of the written: no face found
    resaved: int = 0  # of those: re-saved without metadata, not copied
    existing: int = 0
    skipped: int = 0
    unreadable: int = 0
    failed: int = 0
    verified: int = 0  # --verify: outputs checked
    left: int = 0  # of those: still showing or matching a face
    files: list = field(default_factory=list)  # --report: one entry per photo written

    def fail(self, job: _Job, why) -> None:
        """Count ``job`` as failed and say why on stderr."""
        self.failed += 1
        _report(f"failed {job.source}: {why}")

    def summary(self) -> str:
        verified = (f"; verified {self.verified}: {self.left} still show or match a face (named on stderr)"
                    if self.verified else "")
        return (f"{self.method}: {self.written} written to {self.output} ({self.no_face} with no face found, written "
                f"unchanged, {self.resaved} of them re-saved without metadata), {self.existing} skipped because the "
                f"output exists (--overwrite replaces them), {self.skipped} inputs skipped (links, repeated, partial "
                f"and special files, named on stderr), {self.unreadable} unreadable, {self.failed} failed{verified}")

    def status(self) -> int:
        """The exit status: faces left (--verify) first, then unreadable or failed files, else 0."""
        if self.left:
            return EXIT_LEFT
        return EXIT_FAILED if (self.unreadable or self.failed) else EXIT_OK

    def as_dict(self) -> dict:
        return {"written": self.written, "no_face": self.no_face, "resaved": self.resaved, "existing": self.existing,
                "skipped": self.skipped, "unreadable": self.unreadable, "failed": self.failed,
                "verified": self.verified, "left": self.left}


@dataclass
class _Run:
    """One run: what to do, with what, and what happened."""

    plan: _Plan
    method: Method
    params: dict
    context: dict
    device: torch.device
    args: argparse.Namespace
    tally: _Tally

    @property
    def options(self) -> dict:
        """The keyword arguments of the pipeline (:mod:`facedid_lib.pipeline`) besides the method."""
        args = self.args
        return dict(detector=args.detector, size=args.size, device=self.device, cover=args.cover,
                    landmarks="auto", sensitive=args.sensitive, head_scale=args.head_scale, **self.context,
                    **self.params)

    @property
    def runner(self):
        """The method as the pipeline runs it (:func:`_runner`)."""
        return _runner(self.args, self.method)

    def left(self) -> int:
        """How many jobs were not done (yet)."""
        tally = self.tally
        return len(self.plan.jobs) - (tally.written + tally.existing + tally.failed + tally.unreadable
                                      - self.plan.unreadable)


class _Abort(Exception):
    """The run cannot go on (a whole-set method failed on the set, a Ray cluster lacks the GPU asked
    for): nothing is written."""


class _Stopped(BaseException):
    """SIGINT or SIGTERM arrived. Unwinding runs the ``finally`` blocks of the writers, which remove the
    temporary file being written; a BaseException, so that no handler on the way counts it as a failed file."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_ERRORS = (ValueError, OSError, RuntimeError)
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_on_signals():
    """Inside, SIGINT and SIGTERM raise :class:`_Stopped`, once: a repeated signal is ignored, so that it
    cannot cut the clean-up short. Handlers can only be set in the main thread; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        for number in _SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise _Stopped(signum)

    previous = {number: signal.signal(number, stop) for number in _SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _exists(job: _Job, run: _Run) -> bool:
    """True (and reported) when the job's output exists and is to be kept."""
    if run.args.overwrite or not job.target.exists():
        return False
    if job.fresh:  # written by this run, on a worker that was lost before it said so: done, not redone
        run.tally.written += 1
        run.tally.files.append({"input": str(job.source), "output": str(job.target), "resumed": True})
        return True
    run.tally.existing += 1
    _report(f"skipped {job.source}: {job.target} exists (--overwrite replaces it)")
    return True


def _read(job: _Job, run: _Run):
    """The job's photo, or None (reported) when it cannot be read."""
    try:
        return images.read_image(job.source)
    except (ValueError, OSError) as err:
        run.tally.unreadable += 1
        _report(f"unreadable {job.source}: {err}")
        return None


def _too_small(photo: np.ndarray) -> bool:
    return min(photo.shape[:2]) < _SMALLEST


def _target(job: _Job, run: _Run) -> Path:
    """The job's output path, with its folder made and its line in the manifest written."""
    job.target.parent.mkdir(parents=True, exist_ok=True)
    if run.plan.manifest is not None:
        run.plan.manifest.add(job.target)
    return job.target


def _write(job: _Job, photo, run: _Run, original=None, found=None) -> None:
    images.write_image(_target(job, run), photo)
    run.tally.written += 1
    entry = {"input": str(job.source), "output": str(job.target), "faces": len(found) if found is not None else 0}
    if run.args.verify and found is not None:
        entry["verify"] = _verify(job, original, found, run)
    run.tally.files.append(entry)


_NO_FACE = AlignedFaces(None, np.zeros((0, 2, 3)), Detections(), np.zeros((0, 5, 2)))


def _verify(job: _Job, original, found, run: _Run) -> dict:
    """Read the output back and check it (:func:`facedid_lib.pipeline.verify_photo`); name it when a
    face is still found or still matches."""
    written = images.read_image(job.target)
    check = pipeline.verify_photo(original, written, found, pipeline.verifier_for(run.args.detector), run.args.size)
    run.tally.verified += 1
    if not check.clean:
        run.tally.left += 1
        _report(f"not clean {job.target}: {check.detector} finds {check.faces_found} face(s), "
                f"{check.still_matching} of {len(found)} face(s) still match the original (SFace)")
    return check.as_dict()


def _write_unchanged(job: _Job, photo: np.ndarray, run: _Run) -> None:
    """A photo without a face: its bytes when they hold one image and nothing else, else its pixels re-saved."""
    data = job.source.read_bytes()
    reason = metadata.resave_reason(data, job.source.suffix)
    if reason is None:
        images.write_bytes(_target(job, run), data)
    else:
        images.write_image(_target(job, run), photo)
        run.tally.resaved += 1
        _report(f"no face in {job.source}: {job.target} re-saved without metadata ({reason})")
    run.tally.written += 1
    run.tally.no_face += 1
    entry = {"input": str(job.source), "output": str(job.target), "faces": 0}
    if run.args.verify:  # the detector found no face: does the other one?
        entry["verify"] = _verify(job, photo, _NO_FACE, run)
    run.tally.files.append(entry)


def _video(job: _Job, run: _Run) -> None:
    """De-identify a video, every face followed by its track (the sound only with --keep-audio); its
    warnings (a truncated file) are named on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tracking = {} if run.args.tracking else {"tracking": None}
            frames = pipeline.deidentify_video(job.source, _target(job, run), run.runner, progress=not run.args.quiet,
                                               keep_audio=run.args.keep_audio, **tracking, **run.options)
            run.tally.written += 1
        except _ERRORS as err:
            run.tally.fail(job, err)
        else:
            entry = {"input": str(job.source), "output": str(job.target), "frames": frames}
            if run.args.verify:
                entry["verify"] = _verify_video(job, run)
            run.tally.files.append(entry)
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        _report(f"warning {job.source}: {message}")


def _verify_video(job: _Job, run: _Run) -> dict:
    """Search every frame of the written video with the other detector
    (:func:`facedid_lib.pipeline.verify_video`); name it when a face is still found."""
    check = pipeline.verify_video(job.target, pipeline.verifier_for(run.args.detector))
    run.tally.verified += 1
    if not check.clean:
        run.tally.left += 1
        first = min(check.found)
        _report(f"not clean {job.target}: {check.detector} finds {check.faces_found} face(s) in {len(check.found)} "
                f"of {check.frames} frame(s), the first in frame {first}")
    return check.as_dict()


def _photos(run: _Run, jobs):
    """The readable photos of ``jobs`` as ``(job, photo)`` pairs, for the pipeline; the rest is done here.

    An existing output is skipped before its input is read, and a video is de-identified as it
    comes (a whole-set method runs over that video's own tracks, one face per person); for a
    whole-set method, photos whose output exists are skipped after it ran (every face counts for it)."""
    whole_set = run.method.whole_set
    for job in jobs:
        if job.video:
            if not _exists(job, run):
                _video(job, run)
            continue
        if not whole_set and _exists(job, run):
            continue
        photo = _read(job, run)
        if photo is not None:
            yield job, photo


def _run_photos(run: _Run) -> None:
    """Every photo through the pipeline (:func:`facedid_lib.pipeline.deidentify_photos`: align,
    de-identify, paste back; one photo at a time, or all faces at once for a whole-set method), then
    written: a photo without a face unchanged."""
    args, method = run.args, run.method
    desc = f"{method.name}: aligning" if method.whole_set else method.name
    jobs = tqdm(run.plan.jobs, desc=desc, unit="file", disable=args.quiet)
    results = pipeline.deidentify_photos(
        _photos(run, jobs), run.runner, whole_set=method.whole_set, smallest=_SMALLEST, collect=_ERRORS,
        wanted=lambda job: not _exists(job, run), ahead=_ahead(args.threads),
        progress=lambda items, stage: tqdm(items, desc=f"{method.name}: {stage}", unit="file", disable=args.quiet),
        **run.options)
    try:
        for result in results:
            job = result.key
            if result.error is not None:
                run.tally.fail(job, result.error)
                continue
            try:
                if result.new is not None:
                    _write(job, result.new, run, result.photo, result.found)
                else:
                    _write_unchanged(job, result.photo, run)
            except _ERRORS as err:
                run.tally.fail(job, err)
    except pipeline.WholeSetFailed as err:
        raise _Abort(f"{method.name} runs once on all faces of all photos and cannot run on the {err.faces} "
                     f"face(s) found in {err.photos} photo(s), so nothing was written: {err.error}") from None


# ------------------------------------------------------------------------------------------------
# the Ray engine (facedid_lib.cli.cluster): each file handled as above, on a cluster's workers


def _check_engine(args, method: Method, plan: _Plan, error) -> None:
    """``error`` (exit 2) where ``--engine ray`` cannot run: Ray missing, or a whole-set method on photos."""
    if args.engine != "ray":
        if args.address or args.workers:
            error("--address and --workers need --engine ray")
        return
    from facedid_lib.cli import cluster

    try:
        cluster.import_ray()
    except ImportError as err:
        error(str(err))
    if method.whole_set and any(not job.video for job in plan.jobs):
        error(f"{method.name} runs once on all faces of all photos: it cannot be split over workers; run it "
              "with the plain engine (each video is a set of its own and may run on Ray)")


def _settings(run: _Run) -> dict:
    """What a Ray worker needs to handle files as this run does (picklable): the arguments, the
    method's parameters and context, the device, the manifest's folder."""
    return {"args": {key: value for key, value in vars(run.args).items() if key != "command"},
            "params": run.params, "context": run.context, "device": str(run.device),
            "manifest": None if run.plan.manifest is None else str(run.plan.manifest.folder)}


def cluster_worker(settings: dict):
    """A Ray worker's handler (:mod:`facedid_lib.cli.cluster`), set up once from :func:`_settings`
    (threads, method): each batch of jobs (``{"source", "target", "video"}``) goes through
    :func:`_run_photos` exactly as on one machine, and the batch's counts, report entries and
    messages come back."""
    args = argparse.Namespace(**{**settings["args"], "quiet": True})
    _set_threads(args.threads)
    method = REGISTRY[args.method]
    manifest = None if settings["manifest"] is None else _Manifest(Path(settings["manifest"]))

    def handle(jobs: list[dict]) -> dict:
        global _CAPTURED
        plan = _Plan([_Job(Path(job["source"]), Path(job["target"]), bool(job["video"]), job["fresh"]) for job in jobs],
                     0, 0, manifest)
        run = _Run(plan, method, settings["params"], settings["context"], torch.device(settings["device"]), args,
                   _Tally(method.name, args.output))
        _CAPTURED = []
        try:
            _run_photos(run)
        finally:
            messages, _CAPTURED = _CAPTURED, None
        return {"tally": run.tally.as_dict(), "files": run.tally.files, "messages": messages}

    return handle


def _run_on_cluster(run: _Run) -> None:
    """Every file of the run handled on a Ray cluster's workers (``--engine ray``), their counts,
    report entries and messages added up here as the batches finish; the report's entries in the
    order of the inputs, as on one machine."""
    from facedid_lib.cli import cluster

    args, tally = run.args, run.tally
    jobs = [{"source": str(job.source), "target": str(job.target), "video": job.video, "fresh": not job.target.exists()}
            for job in run.plan.jobs]
    order = {job["source"]: k for k, job in enumerate(jobs)}
    gpus = 1 if run.device.type == "cuda" else 0
    with cluster.connect(args.address) as resources:
        workers = args.workers or max(1, int(resources.get("CPU", 1)) // args.threads)
        if gpus and resources.get("GPU", 0) < 1:
            raise _Abort(f"--device {run.device}: the Ray cluster has no GPU (its resources: {resources}); "
                         "pass --device cpu or add GPU nodes")
        if gpus and not args.workers:
            workers = min(workers, int(resources["GPU"]))  # one GPU per worker
        with tqdm(total=len(jobs), desc=f"{run.method.name} on {workers} Ray worker(s)", unit="file",
                  disable=args.quiet) as bar:
            for count, result in cluster.run_jobs(jobs, cluster_worker, _settings(run), workers, gpus=gpus,
                                                 video=lambda job: job["video"]):
                for message in result["messages"]:
                    _report(message)
                for key, value in result["tally"].items():
                    setattr(tally, key, getattr(tally, key) + value)
                tally.files += result["files"]
                bar.update(count)
    tally.files.sort(key=lambda entry: order.get(entry["input"], len(order)))


def main(argv: list[str] | None = None) -> int:
    """Run ``facedid`` on ``argv`` (default: the command line's); return the exit status (0, 1, 2, 3 with --verify, 130 or 143).

    The parser is built from the registries as they are: a method registered in this process is
    a sub-command."""
    parser = build_parser()
    run = None
    with _stop_on_signals():
        try:
            try:
                args = parser.parse_args(argv)
                method = REGISTRY[args.method]
                params = {param.name: getattr(args, param.name) for param in method.command_params()}
                args.threads = _set_threads(args.threads)
                plan = _collect(args.inputs, args.output, args.command.error)
                _check_engine(args, method, plan, args.command.error)
                device, context = _prepare(args, method, params, args.command.error)
            except SystemExit as stop:  # argparse: --help (0) or a bad argument (2)
                return stop.code or 0
            tally = _Tally(method.name, args.output, skipped=plan.skipped, unreadable=plan.unreadable)
            run = _Run(plan, method, params, context, device, args, tally)
            try:
                (_run_on_cluster if args.engine == "ray" else _run_photos)(run)
            finally:
                if args.engine == "ray":  # a worker stopped mid-file leaves its temporary file
                    _remove_partial_files(args.output)
        except _Abort as err:
            print(f"facedid {method.name}: error: {err}", file=sys.stderr)
            return 1
        except _Stopped as stop:
            name = signal.Signals(stop.signum).name
            if run is None:
                print(f"facedid: stopped by {name} before any file was processed", file=sys.stderr)
            else:
                print(f"facedid {run.method.name}: stopped by {name}: {run.left()} of {len(run.plan.jobs)} file(s) "
                      "not processed; no partial file is left", file=sys.stderr)
                print(run.tally.summary())
            return 128 + stop.signum
    print(run.tally.summary())
    if run.args.report is not None:
        _write_report(run)
    return run.tally.status()


def _write_report(run: _Run) -> None:
    """``--report FILE.json``: the run's settings, every file handled and the summary, written atomically."""
    args = run.args
    report = {"method": run.method.name, "region": args.cover, "parameters": run.params,
              "detector": args.detector, "sensitive": args.sensitive,
              "verifier": pipeline.verifier_for(args.detector) if args.verify else None,
              "files": run.tally.files, "summary": run.tally.as_dict(), "exit_status": run.tally.status()}
    images.write_bytes(args.report, (json.dumps(report, indent=2, default=str) + "\n").encode())

