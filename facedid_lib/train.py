"""Training a classifier: mini-batch Adam, cross-entropy, L2 weight penalty, early stopping.

One loop serves every recognizer of the course (Model A on pixels, Model B's head on frozen
descriptors): it takes tensors, not data sets, so whatever a model eats can be precomputed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import resolve_device


@dataclass
class History:
    """Per-epoch training loss and validation accuracy, and the epoch whose weights were kept."""

    train_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    best_epoch: int = -1

    @property
    def best_val_accuracy(self) -> float:
        return self.val_accuracy[self.best_epoch] if self.val_accuracy else float("nan")

    def as_dict(self) -> dict:
        return {"train_loss": list(self.train_loss), "val_accuracy": list(self.val_accuracy),
                "best_epoch": self.best_epoch}


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


def fit(model: nn.Module, x_train, y_train, x_val, y_val, *, epochs: int, lr: float = 1e-4,
        batch_size: int = 16, weight_decay: float = 1e-3, patience: int = 10, seed: int = 0,
        device=None, progress: bool = True, desc: str = "training") -> History:
    """Train ``model`` in place and keep the weights of its best validation epoch.

    Loss: ``cross_entropy + weight_decay * sum ||W||²`` (the Keras-style L2 regulariser of the
    paper's Table 1), minimised with Adam at ``lr`` on shuffled mini-batches of ``batch_size``.
    After every epoch the validation accuracy is measured; training stops when it has not improved
    for ``patience`` epochs, and the best epoch's weights are restored.

    Returns
    -------
    :class:`History`.
    """
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError("inputs and labels must have the same length")
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("training and validation sets must not be empty")
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError("epochs, batch_size and patience must be positive")
    device = resolve_device(device)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history, best_state, waited = History(), None, 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                continue  # batch norm cannot train on a single sample
            x, y = x_train[idx].to(device), y_train[idx].to(device)
            loss = F.cross_entropy(model(x), y)
            if weight_decay:
                loss = loss + weight_decay * l2_penalty(model)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        history.train_loss.append(total / len(x_train))
        accuracy = float((predict_logits(model, x_val, device=device).argmax(1) == y_val.to(x_val.device)).float().mean())
        history.val_accuracy.append(accuracy)
        if best_state is None or accuracy > history.val_accuracy[history.best_epoch]:
            history.best_epoch, best_state, waited = epoch, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val_acc=f"{accuracy:.3f}")
        if waited >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return history
