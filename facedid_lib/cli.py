"""The ``facedid`` command: de-identify every face in photos, folders and videos.

Every method in :data:`facedid_lib.methods.REGISTRY` is a sub-command, and each parameter it
declares is an option (``--n-components`` or ``--n_components``), checked against its declared
range. A newly registered method gets its sub-command for free. Faces are found and aligned to chips
(:func:`facedid_lib.faces.align_faces`), de-identified, and pasted back. The rest of the photo is
left as it is. Photo metadata (EXIF, GPS position) is not copied to the outputs.

Usage::

    facedid -h                                          # the methods, one line each
    facedid blur -h                                     # blur's parameters and the common options
    facedid blur --sigma 6 photo.jpg folder/ -o out/    # a photo and a folder (searched recursively)
    facedid pixelate --block 16 clip.mp4 -o out/        # a video, frame by frame
    facedid eigenface --n-components 10 --faces celeba_subset/ photos/ -o out/
    facedid k-same-pixel --k 3 photos/ -o out/          # k-Same over all faces of all photos at once
    python -m facedid_lib.cli blur photo.jpg -o out/    # the same without the installed script

An output keeps its path relative to the folder it was found in (a file given by itself keeps
its name), under the output folder. Existing outputs are skipped unless ``--overwrite`` is given,
and an input is never overwritten. A photo without a detected face is written unchanged.
Exit status: 0 when every file was written (or skipped because its output exists), 1 when a
file could not be read or processed, 2 for bad arguments (then nothing is written).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import config, faces
from .methods import PROVIDERS, REGISTRY, Method, provide
from .params import Param

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
_SIZE = Param("size", 192, "side of the aligned face chips the method sees, in pixels", low=16, high=1024)


# ------------------------------------------------------------------------------------------------
# the parser, built from the registry


def _param_type(param: Param):
    """An argparse ``type`` for a numeric parameter: the text as a number, checked by ``param.validate``."""

    def convert(text: str):
        value = text
        for kind in (int, float):  # "3" -> 3 and "2.5" -> 2.5; validate then converts and checks range
            try:
                value = kind(text)
                break
            except ValueError:
                continue
        try:
            return param.validate(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def _add_param(group, param: Param) -> None:
    """Add ``param`` as an option (``--n-components``, also ``--n_components``) with its meaning and range."""
    options = list(dict.fromkeys([f"--{param.name.replace('_', '-')}", f"--{param.name}"]))
    meaning = param.help.replace("%", "%%")
    if param.choices:
        group.add_argument(*options, dest=param.name, choices=param.choices, default=param.default,
                           help=f"{meaning} (default: %(default)s)")
    elif isinstance(param.default, bool):
        group.add_argument(*options, dest=param.name, action=argparse.BooleanOptionalAction,
                           default=param.default, help=f"{meaning} (default: %(default)s)")
    else:
        group.add_argument(*options, dest=param.name, type=_param_type(param), default=param.default,
                           metavar=type(param.default).__name__.upper(),
                           help=f"{meaning} (range [{param.low}, {param.high}], default: %(default)s)")


def _add_common(command: argparse.ArgumentParser, method: Method) -> None:
    """The inputs, the output folder and the options every method shares."""
    group = command.add_argument_group("input and output")
    group.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                       help=f"image files ({' '.join(IMAGE_SUFFIXES)}), video files ({' '.join(VIDEO_SUFFIXES)}) "
                            "or folders, searched recursively")
    group.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                       help="output folder, created if missing; outputs keep their path relative to the folder "
                            "they were found in")
    group.add_argument("--overwrite", action="store_true",
                       help="replace existing output files (default: skip them and say so)")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    group = command.add_argument_group("faces")
    group.add_argument("--detector", choices=faces.detector_names(), default="hog",
                       help="face detector (default: %(default)s)")
    _add_param(group, _SIZE)
    group.add_argument("--device", help="torch device, e.g. cpu, cuda, cuda:1 (default: FACEDID_DEVICE, "
                                        "else CUDA where available)")
    if method.needs:
        group.add_argument("--faces", type=Path, metavar="DIR",
                           help=f"training faces for its {' and '.join(method.needs)}: a face folder as "
                                "facedid_lib.data.load_faces reads it (default: FACEDID_DATA)")


def _plain(text: str) -> str:
    """Docstring text without reStructuredText markup (double backquotes, roles), %-escaped for argparse."""
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", text).replace("``", "").replace("%", "%%")


def _description(method: Method) -> str:
    """A sub-command's description: the summary and what is special about the method."""
    lines = [f"{method.summary} (family: {method.family})"]
    for need in method.needs:
        lines.append(f"It needs {PROVIDERS[need].help}: made from the training faces of --faces (default "
                     "FACEDID_DATA), at the chip size, once (cached where it is trained).")
    if method.whole_set:
        lines.append("It sees all faces at once: every photo is read and aligned first, the method runs once "
                     "on the faces of all photos together, then each photo is written. Videos are not supported.")
    return _plain("\n".join(lines))


def build_parser() -> argparse.ArgumentParser:
    """The ``facedid`` parser: one sub-command per registered method, one option per parameter."""
    parser = argparse.ArgumentParser(
        prog="facedid", description="De-identify every face in photos, folders and videos.",
        epilog="'facedid METHOD -h' lists a method's parameters. Example: facedid blur --sigma 6 photo.jpg "
               "folder/ -o out/")
    commands = parser.add_subparsers(title="methods", dest="method", metavar="METHOD", required=True)
    for name, method in REGISTRY.items():
        command = commands.add_parser(name, help=_plain(method.summary), description=_description(method))
        command.set_defaults(command=command)
        group = command.add_argument_group("method parameters")
        for param in method.params:
            _add_param(group, param)
        _add_common(command, method)
    return parser


# ------------------------------------------------------------------------------------------------
# inputs and outputs


@dataclass(frozen=True)
class _Job:
    """One input file and the output it is written to."""

    source: Path
    target: Path
    video: bool


def _report(message: str) -> None:
    """A message on stderr that does not break the progress bar."""
    tqdm.write(message, file=sys.stderr)


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def _identity(path: Path) -> tuple[int, int]:
    """The file itself (device, inode): equal for two names of one file (links, case, ``..``)."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def _collect(inputs: list[Path], output: Path, error) -> list[_Job]:
    """The files to process and their outputs; ``error`` (exit 2) on a bad or unsafe path."""
    if output.exists() and not output.is_dir():
        error(f"the output {output} exists and is not a folder")
    out_dir = output.resolve()
    jobs, seen, targets = [], set(), {}
    for given in inputs:
        if not given.exists():
            error(f"input {given} does not exist")
        if given.is_dir():
            files = [path for path in sorted(given.rglob("*")) if path.is_file() and _is_media(path)]
            if out_dir != given.resolve():  # earlier outputs in an output folder inside this one are no inputs
                kept = [path for path in files if out_dir not in path.resolve().parents]
                if len(kept) < len(files):
                    _report(f"ignored {len(files) - len(kept)} file(s) of {given} in the output folder {output}")
                files = kept
            found = [(path, path.relative_to(given)) for path in files]
        elif _is_media(given):
            found = [(given, Path(given.name))]
        else:
            error(f"input {given} is neither an image ({' '.join(IMAGE_SUFFIXES)}) nor a video "
                  f"({' '.join(VIDEO_SUFFIXES)})")
        for path, relative in found:
            source = _identity(path)
            if source in seen:  # the same file given twice (a folder and a file in it)
                continue
            seen.add(source)
            target = output / relative
            if target.resolve() in targets:
                error(f"{path} and {targets[target.resolve()]} would both be written to {target}")
            targets[target.resolve()] = path
            jobs.append(_Job(path, target, path.suffix.lower() in VIDEO_SUFFIXES))
    if not jobs:
        error(f"no image or video file found in {' '.join(map(str, inputs))}")
    for job in jobs:
        if job.target.exists() and _identity(job.target) in seen:
            error(f"the output {job.target} would overwrite an input: choose an output folder that holds no input")
    return jobs


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


def _context(args, method: Method, params: dict, device: torch.device, error) -> dict:
    """What ``method`` needs besides its parameters, made by its providers from ``--faces``."""
    if not method.needs:
        return {}
    if args.faces is None and config.data_dir() is None:
        error(f"{args.method} needs training faces for its {' and '.join(method.needs)}: pass --faces DIR "
              "(a face folder as facedid_lib.data.load_faces reads it) or set FACEDID_DATA")
    if not args.quiet:
        tqdm.write(f"making the {' and '.join(method.needs)} of {args.method} from the faces of "
                   f"{args.faces or config.data_dir()}", file=sys.stderr)
    try:
        return provide(method, args.faces, size=args.size, device=device, progress=not args.quiet, **params)
    except (OSError, ValueError) as err:
        error(f"--faces: {err}")


def _prepare(args, method: Method, params: dict, error) -> tuple[torch.device, dict]:
    """Check the device, detector and parameters; return the device and the method's ``needs``.

    A method that sees one photo at a time runs once on a grey chip here, so a parameter that
    does not suit the chip size (``svd --rank 100 --size 64``) is a bad argument, not a failure
    on every photo. The output folder is made last.
    """
    device = _device(args.device, error)
    try:
        faces.detect(np.zeros((32, 32, 3), np.uint8), args.detector)
    except (RuntimeError, OSError, ValueError, ImportError) as err:
        error(f"--detector {args.detector}: {err}")
    context = _context(args, method, params, device, error)
    if not method.whole_set:
        try:
            method(torch.full((1, 3, args.size, args.size), 0.5, device=device), **context, **params)
        except ValueError as err:
            error(f"{method.name}: {err}")
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        error(f"cannot make the output folder {args.output}: {err}")
    return device, context


# ------------------------------------------------------------------------------------------------
# running


@dataclass
class _Tally:
    """What happened to the files, for the summary and the exit status."""

    written: int = 0
    no_face: int = 0
    existing: int = 0
    unreadable: int = 0
    failed: int = 0

    def fail(self, job: "_Job", why) -> None:
        """Count ``job`` as failed and say why on stderr."""
        self.failed += 1
        _report(f"failed {job.source}: {why}")

    def summary(self, method: str, output: Path) -> str:
        return (f"{method}: {self.written} written to {output} ({self.no_face} with no face found, written "
                f"unchanged), {self.existing} skipped because the output exists (--overwrite replaces them), "
                f"{self.unreadable} unreadable, {self.failed} failed")


class _Abort(Exception):
    """A whole-set method failed on the set: nothing is written."""


_ERRORS = (ValueError, OSError, RuntimeError)


def _exists(job: _Job, args, tally: _Tally) -> bool:
    """True (and reported) when the job's output exists and is to be kept."""
    if args.overwrite or not job.target.exists():
        return False
    tally.existing += 1
    _report(f"skipped {job.source}: {job.target} exists (--overwrite replaces it)")
    return True


def _read(job: _Job, tally: _Tally):
    """The job's photo, or None (reported) when it cannot be read."""
    try:
        return faces.read_image(job.source)
    except (ValueError, OSError) as err:
        tally.unreadable += 1
        _report(f"unreadable {job.source}: {err}")
        return None


def _write(job: _Job, photo, tally: _Tally) -> None:
    job.target.parent.mkdir(parents=True, exist_ok=True)
    faces.write_image(job.target, photo)
    tally.written += 1


def _run_each(jobs, method: Method, params: dict, context: dict, device, args, tally: _Tally) -> None:
    """One photo (or video) at a time: align, de-identify, paste back, write."""
    options = dict(detector=args.detector, size=args.size, device=device, **context, **params)
    for job in tqdm(jobs, desc=method.name, unit="file", disable=args.quiet):
        if _exists(job, args, tally):
            continue
        if job.video:
            try:
                job.target.parent.mkdir(parents=True, exist_ok=True)
                faces.deidentify_video(job.source, job.target, method, progress=not args.quiet, **options)
                tally.written += 1
            except _ERRORS as err:
                tally.fail(job, err)
            continue
        photo = _read(job, tally)
        if photo is None:
            continue
        try:
            new, found = faces.deidentify_photo(photo, method, **options)
            _write(job, new, tally)
            tally.no_face += not len(found)
        except _ERRORS as err:
            tally.fail(job, err)


def _run_whole_set(jobs, method: Method, params: dict, context: dict, device, args, tally: _Tally) -> None:
    """Align every photo, run the method once on all faces, paste each photo's faces back, write."""
    aligned = []
    for job in tqdm(jobs, desc=f"{method.name}: aligning", unit="file", disable=args.quiet):
        if job.video:
            tally.fail(job, f"{method.name} sees all faces at once and does not run on videos")
            continue
        photo = _read(job, tally)
        if photo is None:
            continue
        try:
            aligned.append((job, photo, faces.align_faces(photo, args.detector, args.size, device=device)))
        except _ERRORS as err:
            tally.fail(job, err)
    if not aligned:
        return
    chips = torch.cat([found.chips for _, _, found in aligned])
    try:
        new = method(chips, **context, **params)
    except ValueError as err:
        raise _Abort(f"{method.name} runs once on all faces of all photos and cannot run on the {len(chips)} "
                     f"face(s) found in {len(aligned)} photo(s), so nothing was written: {err}") from None
    start = 0
    for job, photo, found in tqdm(aligned, desc=f"{method.name}: writing", unit="file", disable=args.quiet):
        count, start = len(found), start + len(found)
        if _exists(job, args, tally):
            continue
        try:
            part = new[start - count:start]
            hidden = faces.paste_back(photo, part, found.transforms, device=device) if count else photo
            _write(job, hidden, tally)
            tally.no_face += not count
        except _ERRORS as err:
            tally.fail(job, err)


def main(argv: list[str] | None = None) -> int:
    """Run ``facedid`` on ``argv`` (default: the command line's); return the exit status (0, 1 or 2)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        method = REGISTRY[args.method]
        params = {param.name: getattr(args, param.name) for param in method.params}
        jobs = _collect(args.inputs, args.output, args.command.error)
        device, context = _prepare(args, method, params, args.command.error)
    except SystemExit as stop:  # argparse: --help (0) or a bad argument (2)
        return stop.code or 0
    tally = _Tally()
    run = _run_whole_set if method.whole_set else _run_each
    try:
        run(jobs, method, params, context, device, args, tally)
    except _Abort as err:
        print(f"facedid {method.name}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"facedid: interrupted; {tally.summary(method.name, args.output)}", file=sys.stderr)
        return 130
    print(tally.summary(method.name, args.output))
    return 0 if not (tally.unreadable or tally.failed) else 1


if __name__ == "__main__":
    sys.exit(main())
