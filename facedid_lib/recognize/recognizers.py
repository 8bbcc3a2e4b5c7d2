"""The paper's two face recognizers, trained once and cached.

Chatzikyriakidis, Papaioannidis and Pitas (ICIP 2019) attack two classifiers of 30 CelebA
identities (30 photos each, split 70/15/15):

- **Model A** (their Table 1): a small CNN trained from scratch,
  Conv 32 5x5 same, BN, ReLU, max-pool 2 -> Conv 64 5x5 same, BN, ReLU, max-pool 2 ->
  FC 512, BN, ReLU, dropout -> FC n; L2 weight penalty 1e-3, Adam lr 1e-4, batch 16.
- **Model B**: a pretrained face descriptor (theirs: VGG-Face; ours: dlib's ResNet, ported to
  PyTorch in :mod:`facedid_lib.recognize.dlib_resnet`), frozen, with a small trained head
  FC 256, BN, ReLU -> FC n.

:data:`MODEL_A` and :data:`MODEL_B` are their specs in the zoo (:mod:`facedid_lib.core.zoo`):
``zoo.trained("model-a")`` (or :func:`model_a`) loads the paper's selection
(:func:`facedid_lib.data.splits.paper_splits`), trains (or loads the cached weights: the cache
key covers the data, the recipe and the seed) and reports test accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.train import History, fit_classifier, predict_logits
from facedid_lib.data import facesets as data
from facedid_lib.data.splits import paper_splits, splits_key  # noqa: F401  (paper_splits: the chapters' name for it)


class ModelA(nn.Module):
    """The paper's small CNN (Table 1) on ``(N, 3, s, s)`` images in [0, 1]; returns ``(N, n)`` logits.

    ``dropout`` is the probability of dropping a unit. Table 1 lists "dropout 0.9", which we read
    as TensorFlow's keep probability of 2019 (``keep_prob=0.9``), i.e. ``dropout=0.1``; a drop
    rate of 0.9 on 512 units leaves the classifier about 51 active units per step.
    """

    def __init__(self, n_classes: int, image_size: int = 64, dropout: float = 0.1):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (image_size // 4) ** 2, 512), nn.BatchNorm1d(512), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(512, n_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"Model A takes {self.image_size}x{self.image_size} images, "
                             f"got {tuple(images.shape[-2:])}")
        return self.classifier(self.features(images))


class DescriptorHead(nn.Module):
    """Model B's trained head on a 128-D descriptor: FC 256, BN, ReLU -> FC n."""

    def __init__(self, n_classes: int, in_features: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, 256), nn.BatchNorm1d(256), nn.ReLU(),
                                 nn.Linear(256, n_classes))

    def forward(self, descriptors: torch.Tensor) -> torch.Tensor:
        return self.net(descriptors)


class ModelB(nn.Module):
    """Frozen dlib face descriptor + :class:`DescriptorHead`, on aligned chips in [0, 1].

    The chips are this course's kind (``dlib.get_face_chip`` geometry with ``padding``); the
    descriptor resamples them onto dlib's own 150 x 150 chip. Gradients flow to the pixels (the
    attacks need them) but the descriptor's weights never train.
    """

    def __init__(self, head: DescriptorHead, padding: float = 0.4):
        super().__init__()
        from facedid_lib.recognize.dlib_resnet import DlibResNet

        self.descriptor = DlibResNet()
        self.descriptor.requires_grad_(False)
        self.head = head
        self.padding = padding

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        from facedid_lib.recognize.dlib_resnet import to_dlib_chip

        return self.descriptor(to_dlib_chip(images, padding=self.padding))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))

    def train(self, mode: bool = True):
        super().train(mode)
        self.descriptor.eval()  # the descriptor is frozen: no batch statistics, no dropout
        return self


class Resized(nn.Module):
    """``model(resize(x))``: a recognizer of ``size x size`` images applied to chips of any size.

    The resize is bilinear and antialiased (:func:`facedid_lib.core.ops.resize`) and
    differentiable, so an attack on 192-pixel chips reaches Model A's 64- or 112-pixel input and
    every recognizer sees the same de-identified chips.
    """

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.model, self.size = model, size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from facedid_lib.core.ops import resize

        return self.model(resize(images, self.size))


@dataclass(frozen=True)
class Recipe:
    """How a recognizer is trained (the paper's values; epochs and patience follow the profile)."""

    image_size: int
    epochs: int
    patience: int
    lr: float = 1e-4
    batch_size: int = 16
    weight_decay: float = 1e-3


@dataclass
class Trained:
    """A trained recognizer with its data and its measured accuracy."""

    model: nn.Module
    history: History
    train: data.FaceSet
    val: data.FaceSet
    test: data.FaceSet
    test_accuracy: float
    recipe: Recipe

    def on_chips(self) -> nn.Module:
        """The model taking chips of any size (:class:`Resized` to its input size where needed)."""
        if not isinstance(self.model, ModelA):
            return self.model
        return Resized(self.model, self.recipe.image_size).train(self.model.training)  # in the model's mode


def _accuracy(model, images, labels, device) -> float:
    return float((predict_logits(model, images, device=device).argmax(1).cpu() == labels).float().mean())


def _paper_split(recipe: Recipe, seed: int, source) -> tuple:
    return paper_splits(recipe.image_size, seed, source)


def _key_parts(recipe, splits, seed) -> tuple:
    return asdict(recipe), seed, splits_key(*splits)


def _fit_model_a(recipe: Recipe, splits, *, seed, device, progress, source) -> Trained:
    """Model A: built seeded, trained with :func:`~facedid_lib.core.train.fit_classifier` (cached)."""
    train, val, test = splits

    def build():
        config.seed_everything(seed)
        return ModelA(train.n_classes, recipe.image_size)

    def fit_model(model):
        return fit_classifier(model, train.images, train.labels, val.images, val.labels, epochs=recipe.epochs,
                              lr=recipe.lr, batch_size=recipe.batch_size, weight_decay=recipe.weight_decay,
                              patience=recipe.patience, seed=seed, device=device, progress=progress,
                              desc="Model A").as_dict()

    model, history = cache.trained("model_a", build, fit_model, *_key_parts(recipe, (train, val, test), seed))
    model.to(device).eval()
    return Trained(model, History(**history), train, val, test,
                   _accuracy(model, test.images, test.labels, device), recipe)


def _fit_model_b(recipe: Recipe, splits, *, seed, device, progress, source) -> Trained:
    """Model B: the frozen descriptor describes every photo once, then the head alone trains (cached)."""
    train, val, test = splits

    def build():
        config.seed_everything(seed)
        head = DescriptorHead(train.n_classes)
        return ModelB(head)

    def fit_head(model):
        model.to(device)
        x_train = predict_logits(model.embed, train.images, batch_size=32, device=device)
        x_val = predict_logits(model.embed, val.images, batch_size=32, device=device)
        return fit_classifier(model.head, x_train, train.labels, x_val, val.labels, epochs=recipe.epochs,
                              lr=recipe.lr, batch_size=recipe.batch_size, weight_decay=recipe.weight_decay,
                              patience=recipe.patience, seed=seed, device=device, progress=progress,
                              desc="Model B head").as_dict()

    model, history = cache.trained("model_b", build, fit_head, *_key_parts(recipe, (train, val, test), seed),
                                   part="head")
    model.to(device).eval()
    return Trained(model, History(**history), train, val, test,
                   _accuracy(model, test.images, test.labels, device), recipe)


MODEL_A = zoo.register(zoo.Spec(
    name="model-a",
    about="Model A of Chatzikyriakidis, Papaioannidis and Pitas (ICIP 2019, Table 1): a small CNN trained from "
          "scratch on the paper's 30 x 30 selection (70/15/15), cross-entropy with Adam lr 1e-4, batch 16, L2 "
          "weight penalty 1e-3, early stopping on validation accuracy; quick: 64-pixel faces, 40 epochs "
          "(patience 8); full: 112 pixels, 300 epochs (patience 30).",
    network=ModelA, task=fit_classifier,
    recipes={"quick": Recipe(image_size=64, epochs=40, patience=8),
             "full": Recipe(image_size=112, epochs=300, patience=30)},
    split=_paper_split, fit=_fit_model_a), aliases=("Model A",))

MODEL_B = zoo.register(zoo.Spec(
    name="model-b",
    about="Model B of the same paper: a pretrained face descriptor (theirs VGG-Face, ours dlib's ResNet), frozen, "
          "with a head FC 256, BN, ReLU -> FC n trained on the descriptors of the paper's selection (same optimiser "
          "as Model A); 192-pixel chips; quick: 60 epochs (patience 10); full: 300 epochs (patience 30).",
    network=ModelB, task=fit_classifier,
    recipes={"quick": Recipe(image_size=192, epochs=60, patience=10),
             "full": Recipe(image_size=192, epochs=300, patience=30)},
    split=_paper_split, fit=_fit_model_b), aliases=("Model B",))


def model_a(seed: int = 0, device=None, progress: bool = True, source=None, recipe: Recipe | None = None) -> Trained:
    """Model A trained on the paper's selection (or loaded from the cache): ``zoo.trained("model-a", ...)``."""
    return zoo.trained("model-a", recipe, seed=seed, device=device, progress=progress, source=source)


def model_b(seed: int = 0, device=None, progress: bool = True, source=None, recipe: Recipe | None = None) -> Trained:
    """Model B, its head trained on the paper's selection (or loaded from the cache): ``zoo.trained("model-b", ...)``."""
    return zoo.trained("model-b", recipe, seed=seed, device=device, progress=progress, source=source)
