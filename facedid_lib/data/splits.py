"""The course's data splits: which faces each trained network learns from, is stopped on and is tested on.

Two splits serve every chapter:

- :func:`paper_splits`: the selection of Chatzikyriakidis, Papaioannidis and Pitas (ICIP 2019), 30
  CelebA identities with 30 photos each, split 70/15/15 by identity (every person in every part).
  Model A and Model B train on it; its test part is the faces every chapter de-identifies.
- :func:`chapter_splits`: the faces of the people **outside** that selection (85/15 by identity) to
  train and stop on, and the paper split's test part to test on: the autoencoder, the SAN, the
  unseen gender CNN and the generator learn from faces of people they are never tested on.

:func:`splits_key` is the part of a trained network's cache key that the split determines (the
files and the labels of each part, in order).

Example
-------
>>> from facedid_lib.data import splits
>>> train, val, test = splits.paper_splits(64)                       # from FACEDID_DATA
>>> len(train), len(val), len(test)
(630, 150, 120)
"""

from __future__ import annotations

import torch

from facedid_lib.data import facesets as data

__all__ = ["paper_splits", "chapter_splits", "splits_key"]


def paper_splits(image_size: int, seed: int = 0, source=None) -> tuple[data.FaceSet, data.FaceSet, data.FaceSet]:
    """The paper's 30 x 30 selection (:data:`~facedid_lib.data.facesets.PAPER_SELECTION`) at
    ``image_size``, split 70/15/15 by identity: ``(train, val, test)``.

    ``seed`` chooses the photos and the split; ``source`` is the face folder (None: ``FACEDID_DATA``).
    """
    faces = data.load_faces(source, **data.PAPER_SELECTION, size=image_size, seed=seed, progress=False)
    return data.split(faces, (0.7, 0.15, 0.15), seed=seed)


def chapter_splits(size: int, seed: int = 0, source=None) -> tuple[data.FaceSet, data.FaceSet, data.FaceSet]:
    """Chapter 3's faces at ``size``: ``(train, val, test)``.

    ``train`` and ``val`` (85/15 by identity) are every photo of the identities outside the
    paper's 30 x 30 selection; ``test`` is the paper split's test part (the faces Model A and
    Model B are tested on, of people the networks trained here never saw). ``train`` and ``val``
    keep the label space of all identities; ``test`` keeps the paper selection's.
    """
    *_, test = paper_splits(size, seed, source)
    everyone = data.load_faces(source, size=size, seed=seed, progress=False)
    outside = ~torch.isin(everyone.identities, test.identities.unique())
    if not outside.any():
        raise ValueError("the face folder has no identity outside the paper's selection to train on")
    train, val = data.split(everyone.subset(outside), (0.85, 0.15), seed=seed)
    return train, val, test


def splits_key(*parts: data.FaceSet) -> list:
    """What ``parts`` contribute to a cache key: each part's files and labels, in order.

    >>> faces = data.FaceSet(torch.zeros(2, 3, 8, 8), torch.tensor([0, 1]), torch.tensor([7, 9]), ["a.jpg", "b.jpg"])
    >>> splits_key(faces)
    [(['a.jpg', 'b.jpg'], [0, 1])]
    """
    return [(s.files, s.labels.tolist()) for s in parts]
