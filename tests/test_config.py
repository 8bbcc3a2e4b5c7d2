import os
import random

import numpy as np
import pytest
import torch

from facedid_lib.core import config


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("FACEDID_PROFILE", "full")
    assert config.profile() == "full"
    assert config.by_profile(quick=1, full=2) == 2
    monkeypatch.setenv("FACEDID_PROFILE", " Quick ")
    assert config.profile() == "quick"
    assert config.by_profile(quick=1, full=2) == 1


def test_profile_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("FACEDID_PROFILE", raising=False)
    assert config.profile() == ("full" if torch.cuda.is_available() else "quick")


def test_bad_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FACEDID_PROFILE", "fast")
    with pytest.raises(ValueError, match="FACEDID_PROFILE"):
        config.profile()


def test_device(monkeypatch):
    monkeypatch.delenv("FACEDID_DEVICE", raising=False)
    assert config.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("FACEDID_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
    x = torch.zeros(1)
    assert config.resolve_device(None, like=x) == x.device
    assert config.resolve_device("cpu", like=x) == torch.device("cpu")


def test_seed_everything_repeats_all_generators():
    def draw():
        g = config.seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(3), torch.rand(2, generator=g)

    a, b = draw(), draw()
    assert a[0] == b[0] and a[1] == b[1]
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
    with pytest.raises(TypeError):
        config.seed_everything(1.5)


def test_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    monkeypatch.delenv("FACEDID_DATA", raising=False)
    assert config.data_dir() is None
    monkeypatch.setenv("FACEDID_DATA", str(tmp_path))
    assert config.data_dir() == tmp_path


def test_cpu_threads_follow_omp_num_threads_and_the_dlib_black_box_follows_them(monkeypatch):
    from facedid_lib.recognize import blackbox

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert config.cpu_threads() == 1 and blackbox.default_workers() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert config.cpu_threads() == 7 and blackbox.default_workers() == 2  # dlib: at most two threads
    for unusable in ("", "0", "two", "-1"):
        monkeypatch.setenv("OMP_NUM_THREADS", unusable)
        assert config.cpu_threads() == max(1, os.cpu_count() or 1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert config.cpu_threads() == max(1, os.cpu_count() or 1)
