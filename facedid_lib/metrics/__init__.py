"""Metrics of de-identification: privacy (recognition), utility (image quality) and diversity.

All functions take batched torch tensors on any device and compute on ``device`` (None: the
device of their first tensor argument). Images are ``(N, 3, H, W)`` float tensors in [0, 1].

==========================  ====================================================================
privacy                     :func:`misclassification_rate`, :func:`accuracy`,
                            :func:`outcomes` (with a defence's :data:`REJECT`),
                            :func:`targeted_success_rate`, :func:`true_label_rank`,
                            :func:`rank_probability`, :func:`faceness`
distortion, per image       :func:`l2_norm`, :func:`mse`
similarity, per image       :func:`ssim`, :func:`cw_ssim`, :class:`SSIMReference` (one reference, many calls)
generative methods          :func:`diversity`
detection against truth     :func:`box_iou`, :func:`average_precision` (AP and recall at an IoU)
==========================  ====================================================================

Rates (accuracy, misclassification, targeted success) are Python floats; per-image metrics are
``(N,)`` tensors, differentiable where the formula is (L2, MSE, SSIM, CW-SSIM), so they
can also serve as losses.

References
----------
.. [1] Chatzikyriakidis, Papaioannidis, Pitas, "Adversarial face de-identification", ICIP 2019.
.. [2] Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
   structural similarity", IEEE TIP 13(4), 2004.
.. [3] Sampat, Wang, Gupta, Bovik, Markey, "Complex wavelet structural similarity: a new image
   similarity index", IEEE TIP 18(11), 2009.
.. [4] Portilla, Simoncelli, "A parametric texture model based on joint statistics of complex
   wavelet coefficients", IJCV 40(1), 2000 (the complex steerable filters).
.. [5] Mygdalis, Tefas, Pitas, "K-anonymity inspired adversarial attack and multiple one-class
   classification defense", Neural Networks 124, 2020 (the rank view of a recognizer, k-A^3).

The metrics live by kind in :mod:`~facedid_lib.metrics.recognition`,
:mod:`~facedid_lib.metrics.quality`, :mod:`~facedid_lib.metrics.faces` and
:mod:`~facedid_lib.metrics.boxes`, their input checks in :mod:`~facedid_lib.metrics.inputs`, and the metrics as named objects with their table columns in
:mod:`~facedid_lib.metrics.columns`; this package gives all their public names.
"""

from facedid_lib.metrics.boxes import *  # noqa: F401,F403
from facedid_lib.metrics.boxes import __all__ as _boxes
from facedid_lib.metrics.faces import *  # noqa: F401,F403
from facedid_lib.metrics.faces import __all__ as _faces
from facedid_lib.metrics.quality import *  # noqa: F401,F403
from facedid_lib.metrics.quality import __all__ as _quality
from facedid_lib.metrics.recognition import *  # noqa: F401,F403
from facedid_lib.metrics.recognition import __all__ as _recognition

__all__ = [*_recognition, *_quality, *_faces, *_boxes]
