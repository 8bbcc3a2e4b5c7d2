"""The numbers the course's sources publish, to print beside ours (never to tune against).

Each table is given as the source prints it, with the source named; the chapters show it next to
the table measured on our faces and say why the two differ.

P-FGVM paper: Chatzikyriakidis, Papaioannidis, Pitas, "Adversarial face de-identification",
ICIP 2019. Table 2 holds the attacks' parameters, Table 3 the results (30 CelebA identities x 30
photos, 178 x 218 pixels, split 70/15/15; targeted attacks). Its "SI" column is the mean SSIM
(MSSIM) of Wang et al. 2004; its percentage improvements are, as we recompute them from its own
Table 3 (:func:`facedid_lib.evaluate.improvement`), ``(L2_other - L2_P) / L2_other``,
``(SI_P - SI_other) / SI_P`` and ``(MR_P - MR_other) / MR_other``.

Nousi, Papadopoulos, Tefas, Pitas, "Deep autoencoders for attribute preserving face
de-identification", Signal Processing: Image Communication 2019, as the lecture prints its table:
faceness (FCNS), de-identification rate (DEID) and output diversity (DIV), in percent, per
attribute shift order (Ethn: ethnicity, Mood, Mth: mouth).

Semi-adversarial networks: Mirjalili, Raschka, Namboodiri, Ross, ICB 2018, as Raschka's talk
prints them: gender classification error before and after the opposite-gender perturbation (two
gender classifiers, four data sets) and the M-COTS face matcher's accuracy before and after the
same-, neutral- and opposite-gender perturbations.

k-anonymity inspired attacks (k-A^3) and the m-SVDD defence: Mygdalis, Tefas, Pitas, Neural
Networks 124 (2020), as the lecture prints its table (Yale faces, LightCNN): SSIM (%), MSE x 10^4
and attack success rate ASR (%) of each attack on the undefended network, and on the defended one
(m-SVDD) the same with ASR split into F (failed) and D (detected) attacks, at defence parameter
a = 1 and a = 0.97.

Example
-------
>>> float(pfgvm_table3().loc[("Model A", "P-FGVM"), "L2"])
3.38
>>> PFGVM_TABLE2["Model B", "I-FGSM"]["alpha"]
0.0013
>>> float(mygdalis_attacks().loc["9-A^3", "ASR a=0.97"])
6.4

Dasari (the de-detection slides): PGD against a Faster R-CNN face detector trained on WIDER Face,
its average precision and recall at IoU 0.5 on 100 test photos before and after the attack.

McPherson, Shokri and Shmatikov, "Defeating image obfuscation with deep learning" (arXiv 1609.00408,
2016), not one of the course's five sources: a network trained on obfuscated FaceScrub faces (530
identities) names obfuscated test faces; its top-1 and top-5 accuracy as issue 29 quotes the paper
(YouTube's face blur; the strongest mosaic's best case), with chance 1/530.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["PFGVM_SOURCE", "PFGVM_TABLE2", "pfgvm_table2", "pfgvm_table3", "pfgvm_improvement", "NOUSI_SOURCE",
           "nousi_shift_orders", "SAN_SOURCE", "san_gender_error", "san_matching_accuracy", "MYGDALIS_SOURCE",
           "mygdalis_attacks", "DASARI_SOURCE", "dasari_dedetection", "MCPHERSON_SOURCE", "mcpherson_obfuscation"]

PFGVM_SOURCE = "Chatzikyriakidis, Papaioannidis and Pitas, ICIP 2019"

#: Table 2 in the arguments of :mod:`facedid_lib.attacks.adversarial` (α, N, ε, λ). I-FGSM's
#: α is the table's ε / N (0.026 / 20).
PFGVM_TABLE2 = {
    ("Model A", "P-FGVM"): {"alpha": 1.0, "steps": 50, "lam": 0.22},
    ("Model A", "I-FGVM"): {"alpha": 1.0, "steps": 50, "eps": 0.022},
    ("Model A", "I-FGSM"): {"alpha": 0.0013, "steps": 20, "eps": 0.026},
    ("Model B", "P-FGVM"): {"alpha": 0.55, "steps": 58, "lam": 0.28},
    ("Model B", "I-FGVM"): {"alpha": 0.1, "steps": 40, "eps": 0.022},
    ("Model B", "I-FGSM"): {"alpha": 0.0013, "steps": 20, "eps": 0.026},
}

# Table 3: L2 (mean L2 norm of the perturbation), SI (mean SSIM), MR (misclassification rate).
_TABLE3 = {
    ("Model A", "P-FGVM"): (3.38, 0.986, 0.996), ("Model A", "I-FGVM"): (5.31, 0.963, 0.994),
    ("Model A", "I-FGSM"): (5.68, 0.962, 0.989), ("Model B", "P-FGVM"): (2.11, 0.995, 0.960),
    ("Model B", "I-FGVM"): (2.67, 0.993, 0.932), ("Model B", "I-FGSM"): (5.74, 0.968, 0.944),
}
# Table 3's lower part: P-FGVM's improvement on each method, in percent (L2, SI, MR).
_IMPROVEMENT = {
    ("Model A", "P-FGVM vs I-FGVM"): (36.3, 2.3, 0.2), ("Model A", "P-FGVM vs I-FGSM"): (40.4, 2.4, 0.7),
    ("Model B", "P-FGVM vs I-FGVM"): (20.9, 0.2, 3.0), ("Model B", "P-FGVM vs I-FGSM"): (63.2, 2.7, 1.7),
}


def _frame(table: dict, columns) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(table, orient="index", columns=columns)
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["model", "method"])
    return frame


def pfgvm_table2() -> pd.DataFrame:
    """The paper's Table 2: α, N, ε, λ per model and method (NaN where the method has none)."""
    frame = _frame({k: (v["alpha"], v["steps"], v.get("eps"), v.get("lam")) for k, v in PFGVM_TABLE2.items()},
                   ["alpha", "steps", "eps", "lam"])
    return frame.astype({"steps": int})


def pfgvm_table3() -> pd.DataFrame:
    """The paper's Table 3: L2, SSIM (its SI) and MR (a rate in [0, 1]) per model and method."""
    return _frame(_TABLE3, ["L2", "SSIM", "MR"])


def pfgvm_improvement() -> pd.DataFrame:
    """The paper's percentage improvements of P-FGVM (the lower part of its Table 3)."""
    return _frame(_IMPROVEMENT, ["L2 %", "SSIM %", "MR %"]).rename_axis(["model", "comparison"])


NOUSI_SOURCE = "Nousi, Papadopoulos, Tefas and Pitas, Signal Processing: Image Communication 2019"
_NOUSI = {
    "Ethn+Mood+Mth": (99.85, 92.65, 48.25), "Ethn+Mth+Mood": (99.78, 92.56, 48.96),
    "Mood+Ethn+Mth": (99.71, 92.74, 39.60), "Mood+Mth+Ethn": (99.76, 92.94, 51.28),
    "Mth+Mood+Ethn": (99.52, 93.02, 41.08), "Mth+Ethn+Mood": (99.62, 93.22, 34.00),
}


def nousi_shift_orders() -> pd.DataFrame:
    """The lecture's table of Nousi et al.: FCNS, DEID and DIV (%) per shift order."""
    return pd.DataFrame.from_dict(_NOUSI, orient="index", columns=["FCNS", "DEID", "DIV"]).rename_axis("shift order")


SAN_SOURCE = "Mirjalili, Raschka, Namboodiri and Ross, ICB 2018"
_SAN_GENDER = {
    ("IntraFace", "CelebA-test"): (19.7, 39.3), ("IntraFace", "MUCT"): (8.0, 39.2),
    ("IntraFace", "LFW"): (33.4, 72.5), ("IntraFace", "AR-face"): (16.9, 53.8),
    ("G-COTS", "CelebA-test"): (2.2, 13.6), ("G-COTS", "MUCT"): (5.1, 25.4),
    ("G-COTS", "LFW"): (2.8, 18.8), ("G-COTS", "AR-face"): (9.3, 26.9),
}
_SAN_MATCHING = {"MUCT": (99.88, 99.79, 99.57, 98.44), "LFW": (90.29, 90.02, 88.47, 83.45),
                 "AR-face": (94.97, 94.11, 91.95, 90.81)}


def san_gender_error() -> pd.DataFrame:
    """The SAN talk's gender classification error (%) before and after the OP perturbation."""
    frame = pd.DataFrame.from_dict(_SAN_GENDER, orient="index", columns=["before", "after OP"])
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["gender classifier", "data"])
    return frame


def san_matching_accuracy() -> pd.DataFrame:
    """The SAN talk's M-COTS matching accuracy (%) before and after the SM, NT and OP perturbations."""
    return pd.DataFrame.from_dict(_SAN_MATCHING, orient="index",
                                  columns=["before", "SM", "NT", "OP"]).rename_axis("data")



MYGDALIS_SOURCE = ("Mygdalis, Tefas and Pitas, Neural Networks 124 (2020), the lecture's table (Yale faces, "
                   "LightCNN)")
# undefended SSIM, MSE x 1e4, ASR; defended SSIM, MSE x 1e4; ASR (F, D) at a = 1; ASR (F, D) at a = 0.97
_MYGDALIS = {
    "L-BFGS": (93.89, 5.97, 99.23, 93.30, 6.26, 43.44, 19.36, 37.19, 10.96, 8.81, 80.22),
    "DeepFool": (97.87, 1.71, 100.0, 97.77, 1.94, 41.49, 47.43, 11.06, 17.36, 37.85, 44.77),
    "C&W": (94.21, 5.16, 99.94, 92.82, 5.59, 29.91, 24.64, 45.44, 6.91, 12.70, 80.37),
    "1-A^3": (98.05, 1.59, 99.43, 98.06, 1.63, 41.59, 48.82, 9.57, 18.08, 38.11, 43.80),
    "5-A^3": (95.17, 7.52, 96.26, 94.55, 7.74, 42.82, 18.80, 38.37, 11.52, 12.09, 76.38),
    "9-A^3": (93.17, 4.36, 91.34, 92.52, 5.98, 29.50, 15.47, 55.02, 6.40, 8.65, 84.93),
}


def mygdalis_attacks() -> pd.DataFrame:
    """The lecture's k-A^3 / m-SVDD table, in %, per attack (MSE in units of 1e-4).

    Columns: ``SSIM``, ``MSE x 1e4``, ``ASR`` (the undefended network), ``def. SSIM``, ``def. MSE``
    (x 1e4) of the attacks on the defended network, and its ``ASR``, ``F`` (failed) and ``D``
    (detected) attacks at defence parameter ``a=1`` and ``a=0.97``.
    """
    columns = ["SSIM", "MSE x 1e4", "ASR", "def. SSIM", "def. MSE", "ASR a=1", "F a=1", "D a=1",
               "ASR a=0.97", "F a=0.97", "D a=0.97"]
    return pd.DataFrame.from_dict(_MYGDALIS, orient="index", columns=columns).rename_axis("attack")


DASARI_SOURCE = ("Dasari, \"Adversarial ML based privacy preservation against face detection on social media\" "
                 "(MS project slides): Faster R-CNN on WIDER Face, 100 test photos, PGD (IBM's ART), IoU 0.5")
# eps (in [0, 1] units), iterations, seconds per image on one Tesla K80, AP, total recall
_DASARI = {
    "original": (None, None, None, 0.51, 0.56),
    "PGD eps 0.01, 10 iterations": (0.01, 10, 9.0, 0.07, 0.19),
    "PGD eps 0.01, 40 iterations": (0.01, 40, 37.0, 0.04, 0.14),
    "PGD eps 0.02, 40 iterations": (0.02, 40, 37.0, 0.00, 0.01),
}


def dasari_dedetection() -> pd.DataFrame:
    """Dasari's attack evaluation: AP and total recall of the attacked Faster R-CNN face detector at
    IoU 0.5, before and after PGD, with the attack's seconds per image on a K80.

    Columns ``eps``, ``iterations``, ``s / image (K80)``, ``AP``, ``recall``; one row per set.

    >>> dasari_dedetection().loc["PGD eps 0.01, 10 iterations", ["AP", "recall"]].tolist()
    [0.07, 0.19]
    """
    return pd.DataFrame.from_dict(_DASARI, orient="index",
                                  columns=["eps", "iterations", "s / image (K80)", "AP", "recall"]).rename_axis("set")


MCPHERSON_SOURCE = ("McPherson, Shokri and Shmatikov, arXiv 1609.00408 (2016): a CNN trained on obfuscated FaceScrub "
                    "faces, 530 identities, as quoted in the course's issue 29 (about)")
# top-1 %, top-5 %, chance %
_MCPHERSON = {
    "blur (YouTube)": (57.0, 85.0, 0.19),
    "mosaic": (71.0, 83.0, 0.19),
}


def mcpherson_obfuscation() -> pd.DataFrame:
    """McPherson et al.'s accuracy of a network trained on obfuscated faces, on obfuscated faces.

    Columns ``top-1 %``, ``top-5 %``, ``chance %``; one row per obfuscation.

    >>> mcpherson_obfuscation().loc["blur (YouTube)", ["top-1 %", "top-5 %"]].tolist()
    [57.0, 85.0]
    """
    return pd.DataFrame.from_dict(_MCPHERSON, orient="index",
                                  columns=["top-1 %", "top-5 %", "chance %"]).rename_axis("obfuscation")
