import pytest
import torch

from facedid_lib.core import train
from facedid_lib.recognize import recognizers


def test_model_a_follows_table_1():
    model = recognizers.ModelA(30, image_size=64)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [(32, (5, 5), (2, 2)), (64, (5, 5), (2, 2))]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(64 * 16 * 16, 512), (512, 30)]
    model.eval()
    assert model(torch.rand(3, 3, 64, 64)).shape == (3, 30)
    with pytest.raises(ValueError, match="64x64"):
        model(torch.rand(1, 3, 32, 32))


def test_fit_learns_separable_classes_and_keeps_the_best_epoch():
    g = torch.Generator().manual_seed(0)
    # three classes told apart by their mean colour
    means = torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]])
    labels = torch.arange(3).repeat_interleave(20)
    images = (means[labels][:, :, None, None] + 0.05 * torch.randn(60, 3, 16, 16, generator=g)).clamp(0, 1)
    model = recognizers.ModelA(3, image_size=16)
    history = train.fit_classifier(model, images[::2], labels[::2], images[1::2], labels[1::2], epochs=15,
                                   lr=1e-3, patience=15, progress=False)
    assert history.best_val_score == 1.0
    assert history.val_score[history.best_epoch] == max(history.val_score)
    assert history.train_loss[-1] < history.train_loss[0]
    assert not model.training


def test_fit_stops_early_and_checks_its_input():
    x, y = torch.rand(8, 4), torch.randint(0, 2, (8,))
    model = torch.nn.Linear(4, 2)
    history = train.fit_classifier(model, x, y, x, y, epochs=50, lr=0.0, patience=2, progress=False)
    assert len(history.val_score) == 3  # no improvement with lr 0: stop after patience epochs
    with pytest.raises(ValueError, match="same length"):
        train.fit_classifier(model, x, y[:3], x, y, epochs=1)
    with pytest.raises(ValueError, match="empty"):
        train.fit_classifier(model, x[:0], y[:0], x, y, epochs=1)


def test_model_a_is_trained_once_then_loaded(monkeypatch, tmp_path, data_folder):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    tiny = recognizers.Recipe(image_size=32, epochs=2, patience=2)
    first = recognizers.model_a(progress=False, device="cpu", recipe=tiny)
    assert first.train.n_classes == 30 and len(first.test) == 30 * 4
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("model_a-*.pt")) == ["model_a"]
    calls = []
    monkeypatch.setattr(recognizers, "fit_classifier", lambda *a, **k: calls.append(1))
    second = recognizers.model_a(progress=False, device="cpu", recipe=tiny)
    assert calls == []  # loaded from the cache, not trained again
    assert second.test_accuracy == first.test_accuracy
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
