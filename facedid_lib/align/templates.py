"""Landmark templates: where each scheme's points lie on the unit face box of dlib's face chips.

A chip is fitted to a face by the similarity that carries a template onto the face's landmarks
(:func:`facedid_lib.align.chip_transform`). The unit face box is dlib's (``get_face_chip_details``):
a chip of padding ``p`` shows template coordinates ``-p .. 1 + p`` in both directions.

Schemes (the order and meaning of the points a landmark detector returns):

``"dlib-5"``
    dlib's 5-point shape predictor: the subject's left eye outer and inner corner, right eye outer
    and inner corner, the base of the nose (:data:`TEMPLATE5`, dlib's own numbers). The course's
    chips are made with it.
``"arcface-5"``
    the subject's right eye (image left), left eye, nose tip, right and left mouth corner: the
    order of YuNet's landmarks and of ArcFace's 112 x 112 template (:data:`ARCFACE_112`; Deng, Guo,
    Xue, Zafeiriou, "ArcFace: additive angular margin loss for deep face recognition", CVPR 2019).
    On the unit box it is ArcFace's template moved by the similarity that carries its two eye
    centres onto dlib's eye centres (the mean of each eye's two corners in :data:`TEMPLATE5`), so a
    chip aligned by these points places the eyes where a dlib chip places them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TEMPLATE5", "ARCFACE_112", "TEMPLATES", "similarity", "two_point_similarity"]

#: dlib's 5-point template on the unit face box (``get_face_chip_details``), in landmark order.
TEMPLATE5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


def similarity(src: np.ndarray, dst: np.ndarray):
    """Least-squares ``dst ≈ c R src + t`` (Umeyama 1991, as dlib's find_similarity_transform)."""
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    sigma = ((src - mean_src) ** 2).sum(1).mean()
    cov = (dst - mean_dst).T @ (src - mean_src) / len(src)
    u, d, vt = np.linalg.svd(cov)
    flip = np.eye(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        flip[1, 1] = -1
    rotation = u @ flip @ vt
    c = np.trace(np.diag(d) @ flip) / sigma if sigma else 1.0
    return c, rotation, mean_dst - c * rotation @ mean_src


def two_point_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity ``A`` (2 x 3) with ``A @ (src[k], 1) = dst[k]`` for two points ``k = 0, 1``."""
    a, b = complex(*(src[1] - src[0])), complex(*(dst[1] - dst[0]))
    z = b / a  # rotation and scale as one complex factor
    shift = complex(*dst[0]) - z * complex(*src[0])
    return np.array([[z.real, -z.imag, shift.real], [z.imag, z.real, shift.imag]])


#: ArcFace's five-point template in its 112 x 112 crop (the subject's right eye, left eye, nose
#: tip, right and left mouth corner): SFace's input geometry (:mod:`facedid_lib.recognize.sface`).
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]])


def _arcface_on_unit_box() -> np.ndarray:
    eyes = np.array([TEMPLATE5[2:4].mean(0), TEMPLATE5[0:2].mean(0)])  # image-left eye, image-right eye
    move = two_point_similarity(ARCFACE_112[:2], eyes)
    return ARCFACE_112 @ move[:, :2].T + move[:, 2]


#: Each landmark scheme's template on the unit face box, ``(K, 2)`` in the scheme's order.
TEMPLATES: dict[str, np.ndarray] = {"dlib-5": TEMPLATE5, "arcface-5": _arcface_on_unit_box()}
