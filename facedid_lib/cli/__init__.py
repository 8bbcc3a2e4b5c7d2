"""The ``facedid`` command: de-identify every face in photos, folders and videos.

Every method in :data:`facedid_lib.methods.REGISTRY` is a sub-command, and each parameter of its
command form (:meth:`facedid_lib.methods.Method.command_params`: lengths as fractions of the face's
width, defaults measured as protective) is an option (``--n-components`` or ``--n_components``),
checked against its declared range. A newly registered method gets its sub-command for free. Faces
are found (YuNet by default) and, by one pipeline for every method
(:func:`facedid_lib.pipeline.deidentify_photos`), either covered whole, head, hair line, ears and
chin, in the photo (``--region head``, the default of the methods that have a head form) or aligned
to chips, de-identified and pasted back (``--region inner``), per face or, for a whole-set method,
once on all faces of all photos. The rest of the photo is left as it is. ``--verify`` checks every
output with another detector and SFace (exit status 3 when a face is left).

Usage::

    facedid -h                                          # the methods, one line each
    facedid blur -h                                     # blur's parameters and the common options
    facedid blur photo.jpg folder/ -o out/              # a photo and a folder (searched recursively)
    facedid pixelate --keep-audio clip.mp4 -o out/  # a video: every face followed; its sound kept
    facedid eigenface --n-components 10 --faces celeba_subset/ photos/ -o out/
    facedid k-same-pixel --k 3 photos/ -o out/          # k-Same over all faces of all photos at once
    python -m facedid_lib.cli blur photo.jpg -o out/    # the same without the installed script
    facedid --version

Start-up. ``facedid -h``, ``--version`` and a wrong argument are answered from the catalogue of
the registries that the previous run stored in the cache folder (:mod:`facedid_lib.cli.catalogue`),
without importing torch; the first run after an install or an edit of the library imports it and
stores the catalogue. A run imports the library (:mod:`facedid_lib.cli.run`) and parses again
from the registries themselves.

Inputs. Folders are searched recursively, in name order. A link to a folder is followed once: a
folder reached again (a link loop, or a second link to it) is skipped, as is a second name of a
file already taken (a link or a hard link), a broken link (dangling or looping), a link into the
output folder, a file with an image or video name that is no regular file (a named pipe, a
device), and a partial file of a killed run (``.NAME.<8 hex digits>.tmp.SUFFIX``). Real paths win
over links: a link to a file or folder that the inputs hold anyway is the one skipped. Every
skipped path is named on stderr and counted in the summary; a folder that cannot be listed counts
as unreadable.

Outputs. An output keeps its path relative to the folder it was found in (a file given by itself
keeps its name), under the output folder, and is written atomically (a temporary file renamed into
place). The output folder is made and checked to be writable before any file is processed; partial
files that a killed run left in it are removed then (and named). Existing outputs are skipped
unless ``--overwrite`` is given, and an input is never overwritten. One run at a time may write
into an output folder.

An output folder inside an input folder (or reached by a link from one): facedid lists every
output it writes there in the folder's manifest, ``.facedid-manifest``, and the output folder is
never searched for inputs. If it holds an image or video that the manifest does not list (a file
facedid did not write), or a link, the run is refused (exit 2) before anything is written, naming
the files: they would be neither de-identified nor told apart from the outputs. Move them out, or
choose an output folder outside the inputs.

A photo without a detected face (one under 2 x 2 pixels has none) is written unchanged: its bytes
are copied when it is a JPEG, PNG or WebP file that holds one image and nothing else (see
:func:`facedid_lib.io.metadata.resave_reason`); otherwise its pixels are re-saved (a JPEG at quality
95), and stderr says so. Either way no output carries metadata: EXIF (with any GPS position), XMP,
IPTC, ICC profiles, comments and text chunks are never copied. A video that yields fewer frames
than its container declares (a truncated file) is written with the frames read, and a warning.

Images of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (89.5 megapixels by default) are
unreadable; high-bit-depth images are scaled to 8 bits (:func:`facedid_lib.io.images.read_image`).

On SIGTERM or SIGINT the file being written is removed, the summary printed, and the exit status
is 143 or 130. Otherwise it is 3 when ``--verify`` found an output that still shows or matches a
face (named on stderr), else 1 when a file or folder could not be read or processed, 2 for bad
arguments (then nothing is written), 0 when every input was written or skipped.
"""
from __future__ import annotations

import sys

from facedid_lib.cli import catalogue
from facedid_lib.cli.parser import IMAGE_SUFFIXES, MANIFEST, VIDEO_SUFFIXES, build_parser


def main(argv: list[str] | None = None) -> int:
    """Run ``facedid`` on ``argv`` (default: the command line's); return the exit status (0, 1, 2,
    3, 130 or 143). In a process that has not imported the library's methods yet (the installed
    script), help, the version and argument errors come from the stored catalogue, where it is
    current, before anything heavy is imported."""
    argv = sys.argv[1:] if argv is None else list(argv)
    fresh = "facedid_lib.methods" not in sys.modules
    found = catalogue.stored() if fresh else None
    if found is not None:
        try:
            build_parser(found).parse_args(argv)
        except SystemExit as stop:  # -h, --version (0) or a bad argument (2): answered without torch
            return stop.code or 0
    from facedid_lib.cli import run

    if fresh and found is None:  # only the library's own methods are registered: keep them for the next start
        catalogue.store(catalogue.live())
    return run.main(argv)


__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "MANIFEST", "build_parser", "main"]
