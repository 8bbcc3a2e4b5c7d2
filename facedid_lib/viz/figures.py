"""Figures that several chapters draw."""

from __future__ import annotations

import torch


def perturbation_figure(clean: torch.Tensor, new: torch.Tensor, n: int = 6, amplify: float = 10.0,
                        titles=None):
    """Rows of clean faces, de-identified faces and ``|perturbation| x amplify`` (the paper's Figure 1)."""
    from facedid_lib.viz.plotting import image_grid

    n = min(n, len(clean))
    diff = ((new[:n] - clean[:n]).abs() * amplify).clamp(0, 1)
    names = titles or ["clean"] * n + ["de-identified"] * n + [f"|perturbation| x {amplify:g}"] * n
    return image_grid(torch.cat([clean[:n].cpu(), new[:n].detach().cpu(), diff.detach().cpu()]),
                      titles=names, ncols=n, size=1.6)


__all__ = ["perturbation_figure"]
