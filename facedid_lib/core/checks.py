"""Input checks shared by the library: clear errors instead of silent wrong answers."""

from __future__ import annotations

import torch


def check_images(images, name: str = "images") -> torch.Tensor:
    """Check an ``N x 3 x H x W`` float tensor in [0, 1] and return it.

    Raises ``TypeError`` for a non-tensor or an integer tensor, ``ValueError`` for a wrong shape,
    a channel count other than 3 (grayscale is not accepted: convert it to RGB first), an empty
    batch, a zero height or width, NaN or infinite values, or values outside [0, 1].
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape N x 3 x H x W, got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {images.dtype} "
                        "(divide uint8 images by 255)")
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape N x 3 x H x W, got {tuple(images.shape)}")
    if images.shape[1] != 3:
        raise ValueError(f"{name} must have 3 (RGB) channels in dimension 1, got {images.shape[1]} "
                         f"(shape {tuple(images.shape)})")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"{name} must have a positive height and width, got shape {tuple(images.shape)}")
    values = images.detach()
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        bad = values.numel() - int(finite.sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s) of {values.numel()}")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return images


def check_method_output(new, given: torch.Tensor, what: str = "chips") -> torch.Tensor:
    """A method's output ``new`` checked (:func:`check_images`) and held to the shape of the
    ``given`` images it was run on (``what`` names them in the error); returned."""
    check_images(new, "the method's output")
    if new.shape != given.shape:
        raise ValueError(f"the method must return {what} of shape {tuple(given.shape)}, got {tuple(new.shape)}")
    return new
