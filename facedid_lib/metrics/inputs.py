"""Checks of the metrics' inputs: tensors, predicted classes, labels, image batches and pairs.

Every metric of :mod:`facedid_lib.metrics` validates its arguments with these, so a wrong shape,
dtype or value range is refused with the argument's name."""

from __future__ import annotations

import math

import torch

from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device


def check_tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def predicted_classes(logits_or_pred, name: str) -> torch.Tensor:
    """(N, C) float logits -> argmax; (N,) integer class indices -> themselves."""
    x = check_tensor(logits_or_pred, name)
    if x.is_floating_point():
        if x.ndim != 2:
            raise ValueError(f"{name}: float input must be (N, C) logits, got shape {tuple(x.shape)} "
                             "(predicted classes must be an integer tensor)")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
        if torch.isnan(x).any():
            raise ValueError(f"{name} contains NaN")
        return x.argmax(1)
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must be (N, C) float logits or (N,) integer classes, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{name}: integer input must be (N,) class indices, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


def check_classes(labels, n: int, name: str, n_classes: int | None = None) -> torch.Tensor:
    y = check_tensor(labels, name)
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {tuple(y.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries for {n} predictions")
    if n and int(y.min()) < 0:
        raise ValueError(f"{name} must be class indices >= 0, got {int(y.min())}")
    if n_classes is not None and n and int(y.max()) >= n_classes:
        raise ValueError(f"{name} must be class indices < {n_classes} (the logits' columns), got {int(y.max())}")
    return y


def check_range(data_range) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not 0 < data_range < math.inf:
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    return float(data_range)


def check_batch(x, name: str, data_range: float | None = None) -> torch.Tensor:
    """check_images, for images in [0, data_range] (None: [0, 1], the function has no data_range)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return check_images(x, name)
    scale = 1.0 if data_range is None else data_range
    try:
        check_images(x.detach() / scale if scale != 1.0 else x.detach(), name)
    except ValueError as exc:
        if data_range is None or "lie in" not in str(exc):
            raise
        raise ValueError(f"{exc} (in units of data_range={data_range:g}: images must lie in "
                         f"[0, {data_range:g}]; pass data_range=255 for 8-bit values)") from None
    return x


def check_pair(x, y, names: tuple[str, str], device, data_range: float | None = None):
    """Check two image batches of the same shape; move them to the computing device."""
    check_batch(x, names[0], data_range)
    check_batch(y, names[1], data_range)
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    device = resolve_device(device, x)
    return x.to(device), y.to(device)


__all__ = ["check_tensor", "predicted_classes", "check_classes", "check_range", "check_batch", "check_pair"]
