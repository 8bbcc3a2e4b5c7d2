"""A convolutional autoencoder of face chips, trained once and cached: the base of chapter 3.

The lecture's autoencoder DID (Mygdalis, Chatzikyriakidis and Pitas; Nousi et al., Signal
Processing: Image Communication 2019): a network ``x_p = G(x; θ)`` trained to reconstruct faces
gives a lossy version of each face, and "information loss is enough to greatly lower face
identification accuracy". :class:`ConvAutoencoder` is that ``G``, split into an encoder
``z = E(x)`` and a decoder ``x_p = D(z)`` so that chapter 3 can fine-tune the encoder alone
(:mod:`facedid_lib.methods.autoencoder`).

Architecture (ours; Nousi et al. give no code): ``log2(size / 4)`` blocks of a 4 x 4 convolution
of stride 2, batch norm and LeakyReLU(0.2) halve the chip down to 4 x 4; a linear layer makes the
code ``z`` of ``code`` numbers; the decoder mirrors it with transposed convolutions and ends in a
sigmoid. The loss is the pixel MSE, minimised with Adam; early stopping on the validation MSE.

The faces it learns from are the identities **outside** the paper's 30 x 30 selection (47 of the
77 offline identities), so the autoencoder never saw any face of the people chapter 3
de-identifies (the test photos of the 30 identities that Model A and Model B know):
:func:`facedid_lib.data.splits.chapter_splits`. :data:`AUTOENCODER` is its spec in the zoo
(:mod:`facedid_lib.core.zoo`).

Example
-------
>>> from facedid_lib.nets import autoencoder
>>> net = autoencoder.ConvAutoencoder(size=64, code=128)      # untrained
>>> net(torch.rand(2, 3, 64, 64)).shape, net.encode(torch.rand(2, 3, 64, 64)).shape
(torch.Size([2, 3, 64, 64]), torch.Size([2, 128]))
>>> # the trained one: minutes of training on a first run (then the cache), so not run here
>>> ae = autoencoder.autoencoder(progress=False)              # doctest: +SKIP
>>> ae.model(ae.test.images).shape == ae.test.images.shape    # doctest: +SKIP
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.checks import check_images
from facedid_lib.core.ops import resize
from facedid_lib.core.train import History, Task, fit
from facedid_lib.data import facesets as data
from facedid_lib.data.splits import chapter_splits, splits_key  # noqa: F401  (chapter_splits: the chapters' name)

__all__ = ["ConvAutoencoder", "Reconstruction", "AERecipe", "AUTOENCODER", "TrainedAE", "autoencoder", "round_trip",
           "encode_all"]


def round_trip(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """``images`` down to ``size`` pixels and back up: what the autoencoder's input size alone loses."""
    return resize(resize(images, size), images.shape[-1])


class ConvAutoencoder(nn.Module):
    """Encoder ``z = E(x)`` and decoder ``x_p = D(z)`` for ``size x size`` chips.

    Parameters
    ----------
    size : side of the chips it works on (a power of two, at least 16); inputs of another size
        are resized to it by :meth:`encode`.
    code : length of the code ``z``.
    width : channels of the first convolution (doubled at every block, at most 8 x width).
    in_channels : 3 for a face; more for networks that take a face and something beside it (the
        semi-adversarial network takes a face and a gender prototype, 6 channels).

    ``code_mean`` (a buffer) is the mean code of the training faces, set after training; the
    "shrunken code" of :func:`facedid_lib.methods.autoencoder.reconstruct` moves codes towards it.
    """

    def __init__(self, size: int = 64, code: int = 128, width: int = 32, in_channels: int = 3):
        super().__init__()
        if size < 16 or size & (size - 1):
            raise ValueError(f"size must be a power of two of at least 16, got {size}")
        blocks = int(math.log2(size // 4))
        channels = [in_channels] + [width * 2 ** min(i, 3) for i in range(blocks)]
        self.size, self.code, self.in_channels = size, code, in_channels
        down = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            down += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(channels[-1] * 16, code))
        up = [nn.Linear(code, channels[-1] * 16), nn.Unflatten(1, (channels[-1], 4, 4))]
        outs = channels[1:][::-1][1:] + [width]
        for c_in, c_out in zip(channels[1:][::-1], outs):
            up += [nn.BatchNorm2d(c_in), nn.LeakyReLU(0.2), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*up, nn.BatchNorm2d(width), nn.LeakyReLU(0.2), nn.Conv2d(width, 3, 3, padding=1),
                                     nn.Sigmoid())
        self.register_buffer("code_mean", torch.zeros(code))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` in [0, 1] -> ``(N, code)``."""
        return self.encoder(resize(x, self.size))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, code)`` -> ``(N, 3, size, size)`` in [0, 1]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class Reconstruction(Task):
    """The autoencoder's task: pixel MSE ``mean (x - D(E(x)))²``, Adam, early stopping on validation MSE."""

    maximize = False
    score_name = "val MSE"

    def __init__(self, model: ConvAutoencoder, x_val: torch.Tensor, lr: float = 1e-3):
        self.model, self.x_val, self.lr = model, x_val, lr

    def networks(self) -> dict:
        return {"autoencoder": self.model}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def loss(self, batch) -> torch.Tensor:
        (x,) = batch
        return F.mse_loss(self.model(x), x)

    def score(self) -> float:
        return mean_squared_error(self.model, self.x_val)


@torch.no_grad()
def mean_squared_error(model: nn.Module, images: torch.Tensor, batch_size: int = 128) -> float:
    """The mean pixel MSE of ``model(images)`` against ``images`` (model in eval mode, batched)."""
    device = config.module_device(model, images.device)
    total = 0.0
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        total += float(F.mse_loss(model(x), x, reduction="sum"))
    return total / images.numel()


@dataclass(frozen=True)
class AERecipe:
    """How the autoencoder is trained (epochs and patience follow the profile)."""

    size: int
    code: int
    width: int
    epochs: int
    patience: int
    lr: float = 1e-3
    batch_size: int = 32


@dataclass
class TrainedAE:
    """A trained autoencoder with its data and its validation and test reconstruction errors."""

    model: ConvAutoencoder
    history: History
    train: data.FaceSet
    val: data.FaceSet
    test: data.FaceSet
    recipe: AERecipe
    test_mse: float


@torch.no_grad()
def encode_all(model: ConvAutoencoder, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """The codes ``E(x)`` of ``images``, batch by batch (model in eval mode), on the CPU."""
    model.eval()
    device = config.module_device(model, images.device)
    return torch.cat([model.encode(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def _fit(r: AERecipe, splits, *, seed, device, progress, source) -> TrainedAE:
    """The autoencoder: built seeded, trained on :class:`Reconstruction`, its mean code set (cached)."""
    train, val, test = splits

    def build():
        config.seed_everything(seed)
        return ConvAutoencoder(r.size, r.code, r.width)

    def fit_model(model):
        history = fit(Reconstruction(model, val.images, lr=r.lr), (train.images,), epochs=r.epochs,
                      batch_size=r.batch_size, patience=r.patience, seed=seed, device=device, progress=progress,
                      desc="autoencoder")
        model.code_mean.copy_(encode_all(model, train.images).mean(0))
        return history.as_dict()

    model, history = cache.trained("autoencoder", build, fit_model, asdict(r), seed, splits_key(train, val))
    model.to(device).eval()
    return TrainedAE(model, History(**history), train, val, test, r, mean_squared_error(model, test.images))


AUTOENCODER = zoo.register(zoo.Spec(
    name="autoencoder",
    about="Chapter 3's convolutional autoencoder (the autoencoder DID of Nousi et al., Signal Processing: Image "
          "Communication 2019; architecture ours): pixel MSE with Adam lr 1e-3, batch 32, early stopping on the "
          "validation MSE, on the faces outside the paper selection; quick: 64-pixel chips, a code of 128, width "
          "32, 20 epochs (patience 5); full: 128 pixels, code 256, width 64, 200 epochs (patience 20).",
    network=ConvAutoencoder, task=Reconstruction,
    recipes={"quick": AERecipe(size=64, code=128, width=32, epochs=20, patience=5),
             "full": AERecipe(size=128, code=256, width=64, epochs=200, patience=20)},
    split=lambda r, seed, source: chapter_splits(r.size, seed, source), fit=_fit))


def autoencoder(seed: int = 0, device=None, progress: bool = True, source=None,
                recipe: AERecipe | None = None) -> TrainedAE:
    """The chapter's autoencoder, trained on the faces outside the paper selection (or loaded from the cache):
    ``zoo.trained("autoencoder", ...)``."""
    return zoo.trained("autoencoder", recipe, seed=seed, device=device, progress=progress, source=source)


def check_autoencoder(model, name: str = "autoencoder") -> ConvAutoencoder:
    """``model`` if it is a :class:`ConvAutoencoder` of face chips (3 input channels), else a TypeError."""
    if not isinstance(model, ConvAutoencoder) or model.in_channels != 3:
        raise TypeError(f"{name} must be a ConvAutoencoder of 3-channel faces "
                        f"(facedid_lib.nets.autoencoder.autoencoder().model), got {type(model).__name__}")
    return model


def run_on_chips(model: ConvAutoencoder, images: torch.Tensor, fn) -> torch.Tensor:
    """``fn(model, x)`` on chips of any size: resized to the model's size and the result back to theirs."""
    check_images(images)
    size = images.shape[-1]
    if images.shape[-2] != size:
        raise ValueError(f"the autoencoder takes square chips, got {tuple(images.shape[-2:])}")
    device = config.module_device(model, images.device)
    with torch.no_grad():
        out = fn(model.eval(), resize(images.to(device), model.size))
    return resize(out, size).to(images.device, images.dtype)
