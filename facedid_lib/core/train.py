"""The course's one training loop: mini-batches, a validation score, early stopping, a progress bar.

What differs between the networks of the course (a classifier, an autoencoder, a semi-adversarial
network, a generator, a one-class model) is written once in a :class:`Task`, the way d2l splits a
``Module`` (what to compute) from its ``Trainer`` (how to loop):

- :meth:`Task.networks`: the modules that train (their weights are what early stopping keeps);
- :meth:`Task.configure`: the optimizers, made once the networks are on their device;
- :meth:`Task.loss`: the loss of one mini-batch (the default :meth:`Task.step` does
  ``zero_grad``, ``backward`` and ``step`` on every optimizer; a task with several optimizers,
  such as a GAN's, overrides :meth:`Task.step`);
- :meth:`Task.score`: the validation score after each epoch, higher is better unless
  ``maximize = False``.

:func:`fit` runs a task; :class:`Classification` is the classifier's task (cross-entropy with the
paper's L2 penalty, validation accuracy) and :func:`fit_classifier` its shortcut. The loop takes
tensors, not data sets, so whatever a network eats can be precomputed (Model B's head trains on
descriptors computed once).

Example
-------
>>> import torch
>>> from facedid_lib.core import train
>>> x, y = torch.rand(40, 4), torch.randint(0, 2, (40,))
>>> model = torch.nn.Linear(4, 2)
>>> history = train.fit_classifier(model, x, y, x, y, epochs=3, progress=False)
>>> len(history.val_score), history.score_name
(3, 'accuracy')
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from facedid_lib.core.config import resolve_device


@dataclass
class History:
    """Per-epoch training loss and validation score, and the epoch whose weights were kept."""

    train_loss: list = field(default_factory=list)
    val_score: list = field(default_factory=list)
    best_epoch: int = -1
    score_name: str = "score"

    @property
    def best_val_score(self) -> float:
        return self.val_score[self.best_epoch] if self.val_score else float("nan")

    def as_dict(self) -> dict:
        return {"train_loss": list(self.train_loss), "val_score": list(self.val_score),
                "best_epoch": self.best_epoch, "score_name": self.score_name}


class Task:
    """What one training run optimises; :func:`fit` owns the loop. Subclass and fill the hooks."""

    #: early stopping keeps the epoch of the highest score (``False``: the lowest)
    maximize: bool = True
    #: what :meth:`score` measures, for the progress bar and the history
    score_name: str = "score"

    def networks(self) -> dict[str, nn.Module]:
        """The modules that train, by name."""
        raise NotImplementedError

    def configure(self) -> None:
        """Make the optimizers (the networks are on their device already); see :meth:`optimizers`."""
        raise NotImplementedError

    def optimizers(self) -> Sequence[torch.optim.Optimizer]:
        return [self.optimizer]

    def loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """The loss of one mini-batch (tensors on the training device)."""
        raise NotImplementedError

    def step(self, batch: Sequence[torch.Tensor]) -> float:
        """One optimisation step on ``batch``; returns the batch's loss."""
        loss = self.loss(batch)
        for optimizer in self.optimizers():
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in self.optimizers():
            optimizer.step()
        return float(loss.detach())

    def score(self) -> float:
        """The validation score, measured after every epoch (networks in eval mode)."""
        raise NotImplementedError


def _has_batch_norm(modules) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for net in modules for m in net.modules())


def fit(task: Task, data: Sequence[torch.Tensor], *, epochs: int, batch_size: int = 16, patience: int = 10,
        seed: int = 0, device=None, progress: bool = True, desc: str = "training") -> History:
    """Train ``task``'s networks in place on ``data`` and keep the weights of the best validation epoch.

    Every epoch shuffles the rows of ``data`` (tensors of equal length, e.g. images and labels)
    with a generator seeded by ``seed``, calls :meth:`Task.step` on each mini-batch of
    ``batch_size`` rows (a single-row batch is skipped where a network has batch norm), then
    measures :meth:`Task.score`. Training stops when the score has not improved for ``patience``
    epochs, and the best epoch's weights are restored; the networks are left in eval mode.

    Returns
    -------
    :class:`History`.
    """
    data = tuple(data)
    if not data or any(len(t) != len(data[0]) for t in data):
        raise ValueError("data must be tensors of the same length")
    if len(data[0]) == 0:
        raise ValueError("the training set must not be empty")
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError("epochs, batch_size and patience must be positive")
    device = resolve_device(device)
    nets = task.networks()
    for net in nets.values():
        net.to(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    task.configure()
    skip_single = _has_batch_norm(nets.values())
    sign = 1.0 if task.maximize else -1.0
    history, best_state, waited = History(score_name=task.score_name), None, 0
    n = len(data[0])
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for epoch in bar:
        for net in nets.values():
            net.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2 and skip_single:
                continue  # batch norm cannot train on a single sample
            total += task.step([t[idx].to(device) for t in data]) * len(idx)
        history.train_loss.append(total / n)
        for net in nets.values():
            net.eval()
        with torch.no_grad():
            score = float(task.score())
        history.val_score.append(score)
        if best_state is None or sign * score > sign * history.val_score[history.best_epoch]:
            history.best_epoch, waited = epoch, 0
            best_state = {name: copy.deepcopy(net.state_dict()) for name, net in nets.items()}
        else:
            waited += 1
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", **{task.score_name: f"{score:.3f}"})
        if waited >= patience:
            break
    for name, net in nets.items():
        net.load_state_dict(best_state[name])
        net.eval()
    return history


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """``sum ||W||²`` over the weight matrices and kernels (not biases, not normalisation)."""
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return sum((w**2).sum() for w in weights)


@torch.no_grad()
def predict_logits(model, inputs: torch.Tensor, batch_size: int = 128, device=None) -> torch.Tensor:
    """``model(inputs)`` batch by batch (a module in eval mode), returned on the inputs' device."""
    device = resolve_device(device, inputs)
    if isinstance(model, nn.Module):
        model.eval()
    out = [model(inputs[i:i + batch_size].to(device)).to(inputs.device) for i in range(0, len(inputs), batch_size)]
    return torch.cat(out)


class Classification(Task):
    """A classifier's task: ``cross_entropy + weight_decay * sum ||W||²``, Adam, validation accuracy.

    The loss is the Keras-style L2 regulariser of the P-FGVM paper's Table 1 (Chatzikyriakidis et
    al., ICIP 2019): the penalty is added to the loss, not decoupled as in AdamW.
    """

    score_name = "accuracy"

    def __init__(self, model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, lr: float = 1e-4,
                 weight_decay: float = 1e-3):
        if len(x_val) != len(y_val):
            raise ValueError("inputs and labels must have the same length")
        if len(x_val) == 0:
            raise ValueError("training and validation sets must not be empty")
        self.model, self.x_val, self.y_val = model, x_val, y_val
        self.lr, self.weight_decay = lr, weight_decay

    def networks(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def loss(self, batch) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self.model(x), y)
        if self.weight_decay:
            loss = loss + self.weight_decay * l2_penalty(self.model)
        return loss

    def score(self) -> float:
        device = next(self.model.parameters()).device
        predicted = predict_logits(self.model, self.x_val, device=device).argmax(1)
        return float((predicted == self.y_val.to(self.x_val.device)).float().mean())


def fit_classifier(model: nn.Module, x_train, y_train, x_val, y_val, *, epochs: int, lr: float = 1e-4,
                   batch_size: int = 16, weight_decay: float = 1e-3, patience: int = 10, seed: int = 0,
                   device=None, progress: bool = True, desc: str = "training") -> History:
    """Train a classifier with :class:`Classification` through :func:`fit` (Adam at ``lr``)."""
    if len(x_train) != len(y_train):
        raise ValueError("inputs and labels must have the same length")
    task = Classification(model, x_val, y_val, lr=lr, weight_decay=weight_decay)
    return fit(task, (x_train, y_train), epochs=epochs, batch_size=batch_size, patience=patience, seed=seed,
               device=device, progress=progress, desc=desc)
