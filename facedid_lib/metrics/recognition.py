"""Privacy as recognition: misclassification and accuracy, the outcomes of a recognizer that may
reject (a defence's :data:`REJECT`), the targeted success rate, and the rank view of a recognizer
(the true label's rank and the probability of each rank; Mygdalis, Tefas and Pitas 2020)."""

from __future__ import annotations

import torch

from facedid_lib.metrics.inputs import check_classes, check_tensor, predicted_classes
from facedid_lib.core.config import resolve_device

#: The label a defended recognizer answers for a face it rejects as adversarial (the lecture's
#: class m + 1): neither the true identity nor another one. See :func:`outcomes`.
REJECT = -1


def accuracy(logits_or_pred, labels, device=None) -> float:
    """Fraction of faces whose predicted identity is the true one.

    ``acc = (1 / N) sum_i [argmax_c z_ic = y_i]``

    Parameters
    ----------
    logits_or_pred : (N, C) float logits, or (N,) integer predicted classes.
    labels : (N,) integer true classes.
    device : where to compute; None: the device of ``logits_or_pred``.

    Returns
    -------
    float in [0, 1].

    Example
    -------
    >>> import torch
    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    """
    pred = predicted_classes(logits_or_pred, "logits_or_pred")
    n_classes = logits_or_pred.shape[1] if logits_or_pred.is_floating_point() else None
    labels = check_classes(labels, pred.shape[0], "labels", n_classes)
    device = resolve_device(device, pred)
    return int((pred.to(device) == labels.to(device)).sum()) / pred.shape[0]


def misclassification_rate(logits_or_pred, labels, device=None) -> float:
    """Misclassification rate ``MR = 1 - accuracy``: the lecture's de-identification (DEID) rate.

    Chatzikyriakidis et al. [1]_ report it for de-identified faces against the recognizer the
    attack targets: the fraction of faces the recognizer no longer identifies.

    Parameters
    ----------
    logits_or_pred : (N, C) float logits, or (N,) integer predicted classes.
    labels : (N,) integer true identities.
    device : where to compute; None: the device of ``logits_or_pred``.

    Returns
    -------
    float in [0, 1].

    Example
    -------
    >>> import torch
    >>> misclassification_rate(torch.tensor([1, 1, 2, 0]), torch.tensor([1, 0, 2, 2]))
    0.5

    A rejected face (:data:`REJECT`, from a defended recognizer) is neither recognised nor
    de-identified: it is refused here, so that it can never count as a miss; :func:`outcomes`
    counts it.
    """
    if bool((predicted_classes(logits_or_pred, "logits_or_pred") == REJECT).any()):
        raise ValueError("the predictions contain rejections (REJECT): a rejected face is not misclassified; "
                         "count succeeded, failed and detected with metrics.outcomes")
    return 1.0 - accuracy(logits_or_pred, labels, device=device)


def outcomes(pred, labels) -> dict:
    """The three outcomes of an attack on a recognizer that may reject (Mygdalis et al. 2020 [5]_).

    Per face: **succeeded** (recognised as another identity: ``pred ∉ {y, REJECT}``), **failed**
    (the true label came back: ``pred = y``) and **detected** (rejected as adversarial:
    ``pred = REJECT``). The three counts add up to the number of faces; for a recognizer without a
    defence ``detected`` is 0 and ``succeeded / n`` is the :func:`misclassification_rate`.

    Parameters
    ----------
    pred : (N,) integer predicted labels, :data:`REJECT` for a rejected face.
    labels : (N,) integer true identities.

    Returns
    -------
    dict of ints: ``succeeded``, ``failed``, ``detected``, ``n``.

    Example
    -------
    >>> import torch
    >>> outcomes(torch.tensor([3, REJECT, 0, 2]), torch.tensor([1, 1, 0, 0]))
    {'succeeded': 2, 'failed': 1, 'detected': 1, 'n': 4}
    """
    if check_tensor(pred, "pred").is_floating_point():
        raise TypeError("pred must be (N,) integer labels (REJECT for a rejected face), not scores")
    pred = predicted_classes(pred, "pred")
    if bool((pred < REJECT).any()):
        raise ValueError(f"pred must be class indices >= 0 or REJECT ({REJECT}), got {int(pred.min())}")
    labels = check_classes(labels, pred.shape[0], "labels").to(pred.device)
    detected = int((pred == REJECT).sum())
    failed = int((pred == labels).sum())
    return {"succeeded": len(pred) - detected - failed, "failed": failed, "detected": detected, "n": len(pred)}


def targeted_success_rate(pred, targets, device=None) -> float:
    """Fraction of faces classified as their attack target: ``(1 / N) sum_i [pred_i = t_i]``.

    Parameters
    ----------
    pred : (N, C) float logits, or (N,) integer predicted classes.
    targets : (N,) integer target classes of a targeted attack.
    device : where to compute; None: the device of ``pred``.

    Returns
    -------
    float in [0, 1].

    Example
    -------
    >>> import torch
    >>> targeted_success_rate(torch.tensor([3, 1, 3]), torch.tensor([3, 3, 3]))
    0.6666666666666666
    """
    predicted = predicted_classes(pred, "pred")
    n_classes = pred.shape[1] if pred.is_floating_point() else None
    targets = check_classes(targets, predicted.shape[0], "targets", n_classes)
    device = resolve_device(device, predicted)
    return int((predicted.to(device) == targets.to(device)).sum()) / predicted.shape[0]


def _scores(scores, name: str = "scores") -> torch.Tensor:
    z = check_tensor(scores, name)
    if not z.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, C) with N, C > 0, got {tuple(z.shape)}")
    if torch.isnan(z).any():
        raise ValueError(f"{name} contains NaN")
    return z


def true_label_rank(scores, labels, device=None) -> torch.Tensor:
    """The rank of each face's true label in its recognizer's output: 1 = the top.

    The lecture (Mygdalis et al. [5]_) writes ``r_x(i)``, i = 1..m, for the ``i``-th most probable
    label of a face ``x`` (its scores sorted in decreasing order; ``r_x(1) = argmax g(x)``, the
    predicted label). The rank of the true label ``y`` is the ``i`` with ``r_x(i) = y``:

    ``rank(x) = 1 + #{c : z_c > z_y}``

    **Ties**: only the labels with a *strictly* higher score are counted, so a true label tied with
    others gets the best of the tied ranks (privacy is never overstated). A true label tied at the
    top therefore has rank 1 even where ``argmax`` (which takes the first of the tied labels)
    predicts another one.

    Parameters
    ----------
    scores : (N, C) float scores, higher = more likely (logits, probabilities, similarities, minus
        distances; only their order counts).
    labels : (N,) integer true labels in ``0 .. C-1``.
    device : where to compute; None: the scores' device.

    Returns
    -------
    (N,) int64 tensor of ranks in ``1 .. C``.

    Example
    -------
    >>> import torch
    >>> true_label_rank(torch.tensor([[3.0, 2.0, 1.0], [1.0, 1.0, 0.0]]), torch.tensor([1, 1]))
    tensor([2, 1])
    """
    z = _scores(scores)
    y = check_classes(labels, z.shape[0], "labels", z.shape[1])
    device = resolve_device(device, z)
    z, y = z.to(device), y.to(device)
    true = z.gather(1, y[:, None].long())
    return (z > true).sum(1).long() + 1


def rank_probability(ranks, n_classes: int, device=None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``P(r_x(i) = y)``, i = 1..C: the share of faces whose true label sits at rank ``i``.

    ``p_i = (1 / N) #{n : rank_n = i}`` over the ranks of :func:`true_label_rank`; the entries sum
    to 1, ``p_1`` is the recognition rate of the top label (with ties counted as in
    :func:`true_label_rank`).

    The k-anonymity requirement of Mygdalis et al. [5]_ (k-A^3) on de-identified faces ``x_p``:
    ``r_{x_p}(1) != y`` (the attack succeeds) and ``P(r_{x_p}(i) = y) <= 1/k`` for every rank
    ``i = 1..m``: the true identity must not be readable from *any* position of the ranked output
    (the final layer's activations are quasi-identifiers: after most attacks the true label sits
    at rank 2). ``max_i p_i <= 1/k`` is that requirement.

    Parameters
    ----------
    ranks : (N,) integer ranks in ``1 .. n_classes``.
    n_classes : C, the number of labels (the length of the result).
    device : where to compute; None: the ranks' device.
    dtype : the result's float dtype; None: torch's default (float32).

    Returns
    -------
    (C,) float tensor; entry ``i - 1`` is ``P(rank = i)``.

    Example
    -------
    >>> import torch
    >>> rank_probability(torch.tensor([1, 2, 2, 3]), 4)
    tensor([0.2500, 0.5000, 0.2500, 0.0000])
    """
    r = check_tensor(ranks, "ranks")
    if r.is_floating_point() or r.dtype == torch.bool or r.is_complex():
        raise TypeError(f"ranks must be an integer tensor, got dtype {r.dtype}")
    if r.ndim != 1 or r.shape[0] == 0:
        raise ValueError(f"ranks must be a non-empty (N,) tensor, got shape {tuple(r.shape)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    low, high = int(r.min()), int(r.max())
    if low < 1 or high > n_classes:
        raise ValueError(f"ranks must lie in 1..{n_classes} (n_classes), got {low}..{high}")
    r = r.to(resolve_device(device, r))
    return torch.bincount(r.long() - 1, minlength=n_classes).to(dtype or torch.get_default_dtype()) / r.shape[0]


__all__ = ["REJECT", "accuracy", "misclassification_rate", "outcomes", "targeted_success_rate", "true_label_rank", "rank_probability"]
