import pytest

from facedid_lib import bench


def test_models_benchmark_runs_and_reports_all_three(monkeypatch, data_folder, tmp_path, capsys):
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    bench.main(["models", "--batch", "2", "--repeat", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    for name in ("Model A", "Model A + m-SVDD", "dlib ResNet (torch port)", "dlib (compiled, CPU)", "torch port / dlib forward speed"):
        assert name in out
    with pytest.raises(SystemExit):
        bench.main(["models", "--batch", "0"])


def test_attacks_benchmark_compares_ours_with_torchattacks(monkeypatch, data_folder, tmp_path, capsys):
    from facedid_lib.attacks import minimal

    pytest.importorskip("torchattacks")
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    # L-BFGS's search over c is sequential per face: one try or two here (the benchmark times, it does not judge)
    lbfgs = minimal.LBFGS
    monkeypatch.setattr(minimal, "LBFGS", lambda model, **given: lbfgs(model, **{**given, "search_steps": 0,
                                                                                "bracket_steps": 1}))
    table = bench.attacks(batch=2, repeat=1, steps=1, device="cpu", classes=4)  # DeepFool: a gradient per class
    fixed = {"I-FGSM (ours)", "P-FGVM (ours)", "BIM (torchattacks)"}
    minimal_rows = {"DeepFool (ours)", "DeepFool (torchattacks)", "C&W (ours)", "CW (torchattacks)", "L-BFGS (ours)"}
    assert set(table.loc["Model A"].index) == fixed | minimal_rows
    assert set(table.loc["Model B"].index) == fixed  # the minimal attacks on Model B only on a GPU
    assert (table["img/s"] > 0).all() and table["fooled"].between(0, 1).all()
    # the command line prints this table and the ratios (a second run would only repeat the timing)
    monkeypatch.setattr(bench, "attacks", lambda *args, **kwargs: table)
    bench.main(["attacks", "--batch", "2", "--repeat", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    for ratio in ("I-FGSM (ours) / BIM (torchattacks) speed", "DeepFool (ours) / DeepFool (torchattacks) speed",
                  "C&W (ours) / CW (torchattacks) speed"):
        assert f"Model A: {ratio}" in out
    assert "Model B: DeepFool" not in out and "L-BFGS (ours)" in out


def test_methods_benchmark_times_every_registered_method(monkeypatch, data_folder, tmp_path, capsys):
    from types import SimpleNamespace

    import torch

    from facedid_lib import methods
    from facedid_lib.core import zoo
    from facedid_lib.nets import autoencoder, generator, san

    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    # the generator's training needs the landmarks of a thousand faces: a small untrained one stands in
    monkeypatch.setattr(generator, "gan", lambda **_: SimpleNamespace(
        generator=generator.ConditionalInpainter(16, 5, 4, width=4).eval(), n_identities=5,
        attributes=torch.zeros(10, 4, dtype=torch.bool), identity=torch.arange(10) % 5))
    # the trained methods' providers train tiny networks here, in few large batches (the benchmark
    # times the methods, not training)
    # the adversarial methods run two iterations here (the benchmark times them at their defaults)
    from facedid_lib.methods import adversarial
    for attack in ("EnsembleIFGSM", "EnsemblePFGVM"):
        original = getattr(adversarial, attack)
        monkeypatch.setattr(adversarial, attack, lambda *a, original=original, **k: original(*a, **{**k, "steps": 2}))
    with zoo.override("autoencoder", autoencoder.AERecipe(size=16, code=8, width=4, epochs=1, patience=1,
                                                          batch_size=512)), \
            zoo.override("san", san.SANRecipe(size=16, code=4, width=4, pretrain_epochs=1, epochs=1, patience=1,
                                              per_identity=1, val_per_identity=1, batch_size=512)):
        table = bench.methods(batch=4, repeat=1, device="cpu")
    assert set(methods.REGISTRY) | {"blur (torchvision)", "photo pipeline (HOG + pixelate)",
                                      "the command's default (YuNet + whole head, pixelate)",
                                      "the same, next photo located ahead (torch one thread fewer)"} == set(table.index)
    assert (table["speed"] > 0).all()
    # the command line prints this table and the ratio (a second run would only repeat the timing)
    monkeypatch.setattr(bench, "methods", lambda *args, **kwargs: table)
    bench.main(["methods", "--batch", "4", "--repeat", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "blur, ours / torchvision speed" in out and "photo pipeline (HOG + pixelate)" in out


def test_memory_benchmark_reads_the_peak_of_a_fresh_process(monkeypatch, data_folder, tmp_path, capsys):
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    table = bench.memory(sizes=((640, 480), (1280, 960)), device="cpu")
    assert list(table.index) == ["640 x 480", "1280 x 960"]
    assert (table["peak MB"] > 100).all() and (table["seconds"] > 0).all()
    assert table["megapixels"].tolist() == [0.3072, 1.2288]


def test_video_benchmark_counts_what_each_tool_leaves_uncovered(monkeypatch, data_folder, tmp_path, capsys):
    """facedid frame by frame and tracked on a short drone clip, and a stand-in for deface that
    copies the clip (it covers nothing: every true face-frame is left)."""
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path / "cache"))
    copier = tmp_path / "copy-deface"
    copier.write_text('#!/bin/sh\ncp "$1" "$3"\n')
    copier.chmod(0o755)
    table = bench.video(repeat=1, device="cpu", seeds=(0,), deface=str(copier), frames=24)
    rows = table.loc["seed 0"]
    total = rows["face-frames"].iloc[0]
    assert total > 0 and (rows["face-frames"] == total).all()
    assert rows.loc["deface 1.5 (solid)", "left uncovered"] == total
    assert rows.loc["facedid fill, tracked (default)", "left uncovered"] <= rows.loc[
        "facedid fill, frame by frame", "left uncovered"] < total
    assert (rows["frames/s"] > 0).all()
    assert (rows.loc[["facedid fill, frame by frame", "facedid fill, tracked (default)"], "peak MB"] > 100).all()


def test_a_failing_command_is_named_with_its_message():
    import sys

    import pytest

    seconds, peak = bench._measured([sys.executable, "-c", "x = bytearray(200 * 2**20)"])
    assert peak > 200 and seconds > 0  # 200 MiB held: the peak is the child's, in MiB
    with pytest.raises(RuntimeError, match="boom"):
        bench._measured([sys.executable, "-c", "raise SystemExit('boom')"])


def test_cluster_benchmark_runs_each_engine_on_the_copied_photos(monkeypatch, data_folder):
    """The table's assembly, with the runs replaced by a stand-in that records each command."""
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    commands = []

    def fake(command):
        commands.append(command)
        return 2.0 if "--engine" in command else 1.0, 500.0

    monkeypatch.setattr(bench, "_measured", fake)
    table = bench.cluster(copies=(1, 2))
    photos = len(list((data_folder / "wild").glob("*.jpg")))
    assert list(table.index.get_level_values("files").unique()) == [photos, 2 * photos]
    assert len(table) == 10 and len(commands) == 10
    ray = table.xs(2 * photos, level="files").loc["ray, 2 workers x 1 thread"]
    assert ray["seconds"] == 2.0 and ray["files/s"] == photos
    assert all(c[c.index("--threads") + 1] in ("1", "2") for c in commands)
    assert sum("--workers" in c for c in commands) == 6


def test_threats_benchmark_times_one_adaptive_attacker(monkeypatch, data_folder, tmp_path, capsys):
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    table = bench.threats(batch=3, repeat=1, device="cpu", per_identity=2, epochs=1)
    assert table.index.tolist() == ["SFace embeddings", "SFace head, 60 epochs", "Model A fine-tune, 1 epochs"]
    assert (table["seconds"] > 0).all() and table.attrs["batch"] == 6
    monkeypatch.setattr(bench, "threats", lambda *args, **kwargs: table)
    bench.main(["threats", "--batch", "3", "--repeat", "1", "--device", "cpu"])
    assert "one adaptive attacker, both recognizers" in capsys.readouterr().out
