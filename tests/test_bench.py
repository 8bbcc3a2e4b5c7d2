import pytest

from facedid_lib import bench


def test_models_benchmark_runs_and_reports_all_three(monkeypatch, data_folder, tmp_path, capsys):
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    bench.main(["models", "--batch", "2", "--repeat", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    for name in ("Model A", "dlib ResNet (torch port)", "dlib (compiled, CPU)", "torch port / dlib forward speed"):
        assert name in out
    with pytest.raises(SystemExit):
        bench.main(["models", "--batch", "0"])


def test_attacks_benchmark_compares_ours_with_torchattacks(monkeypatch, data_folder, tmp_path, capsys):
    pytest.importorskip("torchattacks")
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    table = bench.attacks(batch=2, repeat=1, steps=1, device="cpu")
    assert set(table.index.get_level_values(1)) == {"I-FGSM (ours)", "P-FGVM (ours)", "BIM (torchattacks)"}
    assert (table["img/s"] > 0).all()
    bench.main(["attacks", "--batch", "2", "--repeat", "1", "--device", "cpu"])
    assert "I-FGSM (ours) / BIM speed" in capsys.readouterr().out


def test_methods_benchmark_times_every_registered_method(monkeypatch, data_folder, tmp_path, capsys):
    from facedid_lib import methods
    from facedid_lib.models import autoencoder, san

    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    # the trained methods' providers train tiny networks here (the benchmark times the methods, not training)
    monkeypatch.setattr(autoencoder, "recipe", lambda: autoencoder.AERecipe(size=16, code=8, width=4, epochs=1,
                                                                           patience=1))
    monkeypatch.setattr(san, "san_recipe", lambda: san.SANRecipe(size=16, code=4, width=4, pretrain_epochs=1, epochs=1,
                                                                 patience=1, per_identity=1, val_per_identity=1))
    table = bench.methods(batch=4, repeat=1, device="cpu")
    assert set(methods.REGISTRY) | {"blur (torchvision)", "photo pipeline (HOG + pixelate)"} == set(table.index)
    assert (table["speed"] > 0).all()
    bench.main(["methods", "--batch", "4", "--repeat", "1", "--device", "cpu"])
    assert "blur, ours / torchvision speed" in capsys.readouterr().out
