import pandas as pd
import pytest
import torch

from facedid_lib import evaluate
from facedid_lib.data import FaceSet
from facedid_lib.methods.classical import gaussian_blur


def colour_faces():
    """Three 'identities' told apart by their mean colour, 4 faces each."""
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]])
    labels = torch.arange(3).repeat_interleave(4)
    images = (means[labels][:, :, None, None] + 0.1 * torch.rand(12, 3, 32, 32, generator=g)).clamp(0, 1)
    return FaceSet(images, labels, labels.clone(), [f"{i}.jpg" for i in range(12)])


def nearest_colour(images):
    means = torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]]) + 0.05
    return torch.cdist(images.mean((2, 3)), means).argmin(1)


def test_identity_row_is_the_clean_baseline():
    faces = colour_faces()
    row = evaluate.evaluate(evaluate.identity, faces, {"colour": nearest_colour},
                            {"always": lambda x: torch.ones(len(x), dtype=torch.bool)}, progress=False, device="cpu")
    assert row["n"] == 12 and row["SSIM"] == pytest.approx(1.0) and row["L2"] == 0 and row["MSE"] == 0
    assert row["MR colour"] == 0.0 and row["detected always"] == 1.0


def test_a_method_that_swaps_colours_fools_the_recognizer():
    faces = colour_faces()
    swap = lambda x: x[:, [2, 0, 1]]  # noqa: E731  (class 0 becomes class 1's colour, and so on)
    row = evaluate.evaluate(swap, faces, {"colour": nearest_colour}, progress=False, device="cpu", batch_size=5)
    assert row["MR colour"] == 1.0 and row["SSIM"] < 0.9 and row["L2"] > 1


def test_sweep_gives_a_row_per_value_and_blur_lowers_ssim():
    faces = colour_faces()
    table = evaluate.sweep(gaussian_blur, "sigma", [0.0, 1.0, 3.0], faces, {"colour": nearest_colour},
                           progress=False, device="cpu")
    assert isinstance(table, pd.DataFrame) and list(table.index) == [0.0, 1.0, 3.0]
    assert table["SSIM"].is_monotonic_decreasing and table["SSIM"].iloc[0] == pytest.approx(1.0)
    assert (evaluate.disagreement(table) == 0).all()  # one recognizer: no spread


def test_classifier_resizes_and_errors():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    predict = evaluate.classifier(model, image_size=8)
    assert predict(torch.rand(5, 3, 32, 32)).shape == (5,)
    assert evaluate.resize(torch.rand(1, 3, 8, 8), 8).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="empty"):
        evaluate.evaluate(evaluate.identity, colour_faces().subset([]), {"c": nearest_colour})
    with pytest.raises(ValueError, match="recognizer"):
        evaluate.evaluate(evaluate.identity, colour_faces(), {})
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        evaluate.evaluate(lambda x: x * 3, colour_faces(), {"c": nearest_colour}, progress=False, device="cpu")


def test_perturbation_figure():
    faces = colour_faces()
    fig = evaluate.perturbation_figure(faces.images, gaussian_blur(faces.images, 2.0), n=4)
    assert len(fig.axes) == 12


def test_classifier_of_a_model_without_parameters_runs_where_the_images_are():
    class Colour(torch.nn.Module):
        def forward(self, x):
            return -torch.cdist(x.mean((2, 3)), torch.eye(3))

    predict = evaluate.classifier(Colour())
    assert predict(torch.ones(2, 3, 4, 4) * torch.tensor([1.0, 0, 0])[:, None, None]).tolist() == [0, 0]


def test_measure_gives_the_row_of_evaluate_for_precomputed_faces():
    faces = colour_faces()
    swap = lambda x: x[:, [2, 0, 1]]  # noqa: E731
    recognizers = {"colour": nearest_colour}
    detectors = {"bright": lambda x: x.mean((1, 2, 3)) > 0.5}
    expected = evaluate.evaluate(swap, faces, recognizers, detectors, progress=False, device="cpu", batch_size=5)
    assert evaluate.measure(faces, swap(faces.images), recognizers, detectors, batch_size=7) == pytest.approx(expected)
    with pytest.raises(ValueError, match="shape"):
        evaluate.measure(faces, faces.images[:3], recognizers)
    with pytest.raises(ValueError, match="recognizer"):
        evaluate.measure(faces, faces.images, {})


def test_dlib_recognizers_cache_their_gallery(data_folder, tmp_path, monkeypatch):
    from facedid_lib import data
    from facedid_lib.models import blackbox, gallery

    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    faces = data.load_faces(data_folder, n_identities=3, per_identity=2, size=160, progress=False)
    first = evaluate.dlib_recognizers(faces)
    assert len(list(tmp_path.glob("dlib-gallery-*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the gallery was described again")

    monkeypatch.setattr(blackbox.DlibBlackBox, "descriptors", fail)
    monkeypatch.setattr(gallery.Gallery, "embed", fail)
    again = evaluate.dlib_recognizers(faces)
    monkeypatch.undo()
    for name in ("dlib gallery", "dlib black box"):
        assert torch.equal(first[name](faces.images), again[name](faces.images)), name
    assert torch.equal(first["dlib black box"](faces.images), faces.labels)


class ColourNet(torch.nn.Module):
    """A differentiable 'recognizer' of the colour faces: logits from the mean colour."""

    def forward(self, images):
        return -torch.cdist(images.mean((2, 3)), torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]]))


def test_attack_table_measures_each_attack_on_its_model_and_every_recognizer():
    faces, net = colour_faces(), ColourNet()
    parameters = {("net", "I-FGSM"): {"alpha": 0.05, "eps": 0.6, "steps": 20},
                  ("net", "P-FGVM"): {"alpha": 3000.0, "lam": 1e-4, "steps": 40}}
    recognizers = {"net": evaluate.classifier(net), "colour": nearest_colour}
    results = evaluate.attack_table({"net": net}, parameters, faces, recognizers, progress=False, device="cpu")
    table = results.table
    assert list(table.index) == list(parameters)
    assert set(table.columns) == {"L2", "SSIM", "MR", "TS", "MR net", "MR colour"}
    assert (table["MR"] == table["MR net"]).all() and (table["TS"] == 1.0).all()
    assert results.images["net", "P-FGVM"].shape == faces.images.shape
    # the same seeded random targets for both methods, never the true identity
    targets = results.attacks["net", "I-FGSM"].targets
    assert torch.equal(targets, results.attacks["net", "P-FGVM"].targets) and not (targets == faces.labels).any()
    with pytest.raises(ValueError, match="recognizers must include"):
        evaluate.attack_table({"net": net}, parameters, faces, {"colour": nearest_colour}, progress=False)
    with pytest.raises(ValueError, match="models does not hold"):
        evaluate.attack_table({}, parameters, faces, recognizers, progress=False)


def test_improvement_reproduces_the_papers_percentages():
    """Our definitions recompute Table 3's lower part from its upper part (to its rounding)."""
    from facedid_lib import published

    ours = evaluate.improvement(published.pfgvm_table3())
    paper = published.pfgvm_improvement()
    assert list(ours.index) == list(paper.index)
    assert (ours - paper).abs().max().max() <= 0.15, ours - paper


def test_beside_interleaves_two_tables():
    ours = pd.DataFrame({"L2": [1.0, 2.0], "MR": [0.5, 1.0], "TS": [0.1, 0.2]}, index=["a", "b"])
    theirs = pd.DataFrame({"MR": [0.9], "L2": [3.0]}, index=["b"])
    both = evaluate.beside({"ours": ours, "paper": theirs})
    assert list(both.columns) == [("L2", "ours"), ("L2", "paper"), ("MR", "ours"), ("MR", "paper")]
    assert both.loc["b", ("L2", "paper")] == 3.0 and pd.isna(both.loc["a", ("MR", "paper")])
    three = evaluate.beside({"ours": ours, "again": ours[["MR"]], "paper": theirs})
    assert three.loc["a", ("MR", "again")] == 0.5 and pd.isna(three.loc["a", ("L2", "again")])
    with pytest.raises(ValueError, match="no column"):
        evaluate.beside({"ours": ours[["TS"]], "paper": theirs})
    with pytest.raises(ValueError, match="two tables"):
        evaluate.beside({"ours": ours})
