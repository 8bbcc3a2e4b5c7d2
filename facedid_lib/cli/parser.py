"""The ``facedid`` parser: one sub-command per registered method, one option per parameter, built
from a catalogue of the registries (:mod:`facedid_lib.cli.catalogue`) and importing no torch.

>>> parser = build_parser()
>>> args = parser.parse_args(["blur", "--face-sigma", "0.3", "photo.jpg", "-o", "out"])
>>> args.method, args.face_sigma, args.detector, args.cover
('blur', 0.3, 'yunet', 'head')
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import facedid_lib
from facedid_lib.cli.catalogue import live, to_param
from facedid_lib.core.params import Param

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
MANIFEST = ".facedid-manifest"  # an output folder's list of the files facedid wrote there
_SIZE = Param("size", 192, "side of the aligned face chips the method sees, in pixels", low=16, high=1024)
_HEAD_SCALE = Param("head_scale", 1.0, "the head's ellipse enlarged by this factor (--region head)", low=0.5,
                    high=3.0, step=0.05)
DEFAULT_DETECTOR = "yunet"
ENGINES = ("plain", "ray")  # where the files are handled: this process, or a Ray cluster (facedid_lib.cli.cluster)
#: exit statuses: done; some files unreadable or failed; bad arguments; --verify found faces left
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LEFT = 0, 1, 2, 3


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


def _path(text: str) -> Path:
    """An argparse ``type`` for a path: an empty one is refused (``Path("")`` would be the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file or folder (write . for the current folder)")
    return Path(text)


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


def _detector_type(detectors: list):
    """An argparse ``type`` for ``--detector``: a registered name, or a union of them (``yunet+mmod``)."""

    def convert(text: str) -> str:
        parts = [part.strip() for part in text.split("+")]
        unknown = [part for part in parts if part not in detectors]
        if unknown or len(set(parts)) != len(parts):
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(detectors)}, or join two or more "
                                             "with + (e.g. yunet+mmod), each once")
        return "+".join(parts)

    return convert


def _positive(option: str):
    """The argparse type of ``option``, a positive whole number."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} must be a positive whole number, got {text!r}")
        return value
    return convert


_threads = _positive("--threads")


def _add_common(command: argparse.ArgumentParser, method: dict, detectors: list) -> None:
    """The inputs, the output folder and the options every method shares."""
    group = command.add_argument_group("input and output")
    group.add_argument("inputs", nargs="+", type=_path, metavar="INPUT",
                       help=f"image files ({' '.join(IMAGE_SUFFIXES)}), video files ({' '.join(VIDEO_SUFFIXES)}) "
                            "or folders, searched recursively")
    group.add_argument("-o", "--output", required=True, type=_path, metavar="DIR",
                       help="output folder, created if missing, that must be writable; outputs keep their path "
                            "relative to the folder they were found in")
    group.add_argument("--overwrite", action="store_true",
                       help="replace existing output files (default: skip them and say so)")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    group.add_argument("--verify", action="store_true",
                       help="check every output after it is written: another detector searches it (a video: "
                            "every frame) and SFace compares each face of a photo with the original; each file that "
                            f"still shows or matches a face is named, and the exit status is {EXIT_LEFT} when there "
                            "is one")
    group.add_argument("--report", type=_path, metavar="FILE.json",
                       help="write what was done to each file (and, with --verify, what was found) as JSON")
    group.add_argument("--keep-audio", action="store_true",
                       help="keep a video's sound (its first audio stream, copied); by default it is dropped: "
                            "a voice is personal data too")
    group.add_argument("--no-tracking", dest="tracking", action="store_false",
                       help="de-identify a video frame by frame, each frame on its own (by default every face is "
                            "followed through the clip, so that a face missed in a frame is covered there too)")
    group = command.add_argument_group("faces")
    group.add_argument("--detector", type=_detector_type(detectors), default=DEFAULT_DETECTOR, metavar="DETECTOR",
                       help=f"face detector: {', '.join(detectors)}, or a union such as yunet+mmod (the faces of "
                            "both; a missed face is the worst outcome) (default: %(default)s)")
    group.add_argument("--sensitive", action="store_true",
                       help="run the detector at its lower thresholds: fewer missed faces, more false ones")
    regions = method.get("regions", ["inner"])
    if "region" in {p["name"] for p in method["params"]}:  # mask's own --region (eyes or face): inner face only
        command.set_defaults(cover="inner")
    else:
        group.add_argument("--region", dest="cover", choices=("inner", "head"), default=method.get("region", "inner"),
                           help="what is covered: the aligned inner face (a chip, pasted back) or the whole head, "
                                "hair line, ears and chin, in the photo (" +
                                ("" if "head" in regions else "this method has no head form; ") +
                                "default: %(default)s)")
    _add_param(group, _HEAD_SCALE)
    _add_param(group, _SIZE)
    group.add_argument("--device", help="torch device, e.g. cpu, cuda, cuda:1 (default: FACEDID_DEVICE, "
                                        "else CUDA where available)")
    group.add_argument("--threads", type=_threads, metavar="N",
                       help="CPU threads for OpenCV and torch (default: the cores this process may use); with 2 "
                            "or more, the next photo's faces are located while this one is covered")
    engine = command.add_argument_group("engine")
    engine.add_argument("--engine", choices=ENGINES, default="plain",
                        help="plain: this process, one file after another; ray: the files spread over the workers "
                             "of a Ray cluster (the ray extra: pip install \".[ray]\"), the same outputs "
                             "(default: %(default)s)")
    engine.add_argument("--address", metavar="ADDRESS",
                        help="--engine ray: the cluster to run on (what `ray start --head` prints, or auto for the "
                             "one started on this machine; default: a cluster of this machine, started for the run)")
    engine.add_argument("--workers", type=_positive("--workers"), metavar="N",
                        help="--engine ray: how many workers, each with the detector and the method loaded once "
                             "and --threads threads (default: the cluster's CPUs over --threads)")
    if method["needs"]:
        group.add_argument("--faces", type=Path, metavar="DIR",
                           help=f"training faces for its {' and '.join(need for need, _ in method['needs'])}: a face folder as "
                                "facedid_lib.data.facesets.load_faces reads it (default: FACEDID_DATA)")


def _plain(text: str) -> str:
    """Docstring text without reStructuredText markup (double backquotes, roles), %-escaped for argparse."""
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", text).replace("``", "").replace("%", "%%")


def _description(method: dict) -> str:
    """A sub-command's description: the summary and what is special about the method."""
    lines = [f"{method['summary']} (family: {method['family']})"]
    for _, provided in method["needs"]:
        lines.append(f"It needs {provided}: made from the training faces of --faces (default "
                     "FACEDID_DATA), at the chip size, once (cached where it is trained).")
    if method["whole_set"]:
        lines.append("It sees all faces at once: every photo is read and aligned first, the method runs once "
                     "on the faces of all photos together, then each photo is written. A video is a set of its own: "
                     "the method runs once on its tracks' faces (one per person, the mean of its aligned chips), "
                     "and every frame of a person gets that person's result.")
    return _plain("\n".join(lines))


def build_parser(catalogue: dict | None = None) -> argparse.ArgumentParser:
    """The ``facedid`` parser: one sub-command per registered method, one option per parameter.

    ``catalogue``: what the parser is built from (:mod:`facedid_lib.cli.catalogue`); None: the
    registries as they are now (:func:`~facedid_lib.cli.catalogue.live`, which imports the library).
    """
    catalogue = live() if catalogue is None else catalogue
    parser = argparse.ArgumentParser(
        prog="facedid", description="De-identify every face in photos, folders and videos.",
        epilog="'facedid METHOD -h' lists a method's parameters. Example: facedid blur photo.jpg "
               "folder/ -o out/")
    parser.add_argument("--version", action="version", version=f"facedid {facedid_lib.__version__}")
    commands = parser.add_subparsers(title="methods", dest="method", metavar="METHOD", required=True)
    for method in catalogue["methods"]:
        command = commands.add_parser(method["name"], aliases=method["aliases"], help=_plain(method["summary"]),
                                      description=_description(method))
        command.set_defaults(command=command)
        group = command.add_argument_group("method parameters")
        for entry in method["params"]:
            _add_param(group, to_param(entry))
        _add_common(command, method, catalogue["detectors"])
    return parser


__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "MANIFEST", "DEFAULT_DETECTOR", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE",
           "EXIT_LEFT", "build_parser"]
