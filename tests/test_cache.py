import torch

from facedid_lib.core import cache


def test_key_is_stable_and_sensitive():
    assert cache.key("faces", 112, [1, 2]) == cache.key("faces", 112, [1, 2])
    assert cache.key("faces", 112, [1, 2]) != cache.key("faces", 113, [1, 2])


def test_save_is_atomic_and_loads_weights_only(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    path = cache.path_for("x", 1)
    assert cache.load(path) is None
    cache.save({"w": torch.arange(3)}, path)
    assert torch.equal(cache.load(path)["w"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
