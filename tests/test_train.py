import os
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn as nn

from facedid_lib.core import cache, train


class Regression(train.Task):
    """Least squares of a linear map; the score is the validation MSE (lower is better)."""

    maximize = False
    score_name = "mse"

    def __init__(self, net, x_val, y_val, lr):
        self.net, self.x_val, self.y_val, self.lr = net, x_val, y_val, lr

    def networks(self):
        return {"net": self.net}

    def configure(self):
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.lr)

    def loss(self, batch):
        x, y = batch
        return ((self.net(x) - y) ** 2).mean()

    def score(self):
        return float(((self.net(self.x_val) - self.y_val) ** 2).mean())


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]])


def test_fit_minimises_a_score_and_keeps_the_lowest_epoch():
    x, y = _data()
    net = nn.Linear(3, 1)
    history = train.fit(Regression(net, x, y, lr=0.1), (x, y), epochs=30, batch_size=8, patience=30,
                        progress=False)
    assert history.score_name == "mse"
    assert history.best_val_score == min(history.val_score) < 1e-3
    assert not net.training


def test_fit_is_seeded_and_checks_its_data():
    x, y = _data()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        net = nn.Linear(3, 1)
        train.fit(Regression(net, x, y, lr=0.05), (x, y), epochs=3, batch_size=8, seed=5, progress=False)
        runs.append(net.weight.detach().clone())
    assert torch.equal(*runs)
    with pytest.raises(ValueError, match="same length"):
        train.fit(Regression(nn.Linear(3, 1), x, y, 0.1), (x, y[:5]), epochs=1)
    with pytest.raises(ValueError, match="empty"):
        train.fit(Regression(nn.Linear(3, 1), x, y, 0.1), (x[:0], y[:0]), epochs=1)
    with pytest.raises(ValueError, match="positive"):
        train.fit(Regression(nn.Linear(3, 1), x, y, 0.1), (x, y), epochs=0)


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return 2 * self.lin(x)


def test_trained_cache_trains_once_then_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    calls = []

    def fit(net):
        calls.append(1)
        with torch.no_grad():
            net.lin.weight.fill_(3.0)
        return {"epochs": 4}

    net, info = cache.trained("toy", Twice, fit, "data-1")
    again, info2 = cache.trained("toy", Twice, fit, "data-1")
    assert calls == [1] and info == info2 == {"epochs": 4}
    assert torch.equal(again.lin.weight, torch.full((2, 2), 3.0)) and not again.training
    cache.trained("toy", Twice, fit, "data-2")  # other data: another entry
    assert calls == [1, 1] and len(list(tmp_path.glob("toy-*.pt"))) == 2


def test_trained_cache_keys_the_definition(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    calls = []
    fit = lambda net: calls.append(1) or {}  # noqa: E731
    cache.trained("toy", lambda: nn.Sequential(nn.Linear(2, 2)), fit)
    cache.trained("toy", lambda: nn.Sequential(nn.Linear(2, 3)), fit)  # another shape: another entry
    cache.trained("toy", Twice, fit)  # another class: another entry
    assert calls == [1, 1, 1]
    assert cache.definition(Twice()) == cache.definition(Twice())
    assert cache.definition(Twice()) != cache.definition(nn.Sequential(nn.Linear(2, 2)))


def test_trained_cache_rebuilds_a_corrupt_entry(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    calls = []
    fit = lambda net: calls.append(1) or {"ok": True}  # noqa: E731
    cache.trained("toy", Twice, fit)
    (entry,) = tmp_path.glob("toy-*.pt")
    entry.write_bytes(entry.read_bytes()[:50])  # truncated
    with pytest.warns(UserWarning, match="cannot be read"):
        _, info = cache.trained("toy", Twice, fit)
    assert calls == [1, 1] and info == {"ok": True}
    torch.save({"state": {"lin.weight": torch.zeros(5)}, "info": {}}, entry)  # weights of another shape
    with pytest.warns(UserWarning, match="does not fit"):
        cache.trained("toy", Twice, fit)
    assert calls == [1, 1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.trained("toy", Twice, fit)  # the rebuilt entry loads quietly
    assert calls == [1, 1, 1]


TRAIN_IN_A_PROCESS = """
import sys, time
import torch.nn as nn
from facedid_lib.core import cache

def fit(net):
    with open(sys.argv[1], "a") as log:
        log.write("trained\\n")
    time.sleep(3.0)  # the other process asks for the entry meanwhile
    return {"by": sys.argv[2]}

print(cache.trained("toy", lambda: nn.Linear(2, 2), fit, "shared")[1]["by"])
"""


def test_two_processes_that_need_one_network_train_it_once(tmp_path):
    """Two notebooks under ``pytest -n 2`` (or two cluster workers) asking for the same network:
    the second waits on the entry's lock and loads the weights the first stored."""
    env = {**os.environ, "FACEDID_CACHE": str(tmp_path / "cache")}
    log = tmp_path / "log"
    runs = [subprocess.Popen([sys.executable, "-c", TRAIN_IN_A_PROCESS, str(log), str(i)], env=env,
                             stdout=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert log.read_text() == "trained\n"  # once
    assert outputs[0] == outputs[1] in {"0", "1"}  # both got the trainer's history
