import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from facedid_lib.viz import plotting, widgets  # noqa: E402
from facedid_lib.core.params import Param  # noqa: E402


def test_explorer_builds_controls_and_redraws_through_the_callback():
    calls = []

    def callback(image, sigma, mode):
        calls.append((sigma, mode))
        return plotting.image_grid([image], titles=[f"{mode} {sigma}"])

    params = [Param("sigma", 2.0, "blur", low=0.0, high=8.0, step=0.5),
              Param("mode", "a", "mode", choices=("a", "b"))]
    ex = widgets.Explorer(callback, params, title="t", image=torch.rand(3, 16, 16))
    assert calls == [(2.0, "a")]
    assert set(ex.controls) == {"sigma", "mode"}
    assert ex.controls["sigma"].max == 8.0
    ex.update(sigma=4.0, mode="b")
    assert calls[-1] == (4.0, "b") and len(calls) == 2  # one redraw for one update
    ex.controls["sigma"].value = 1.0  # as a user dragging the slider
    assert calls[-1] == (1.0, "b")
    assert ex.figure.axes[0].get_title() == "b 1.0"
    with pytest.raises(ValueError, match="no control"):
        ex.update(nope=1)


def test_param_widget_kinds():
    assert isinstance(widgets.param_widget(Param("n", 3, "n", low=1, high=5)), widgets.W.IntSlider)
    assert isinstance(widgets.param_widget(Param("x", 0.5, "x", low=0.0, high=1.0)), widgets.W.FloatSlider)
    assert isinstance(widgets.param_widget(Param("b", True, "b")), widgets.W.Checkbox)
    assert isinstance(widgets.param_widget(Param("c", "u", "c", choices=("u", "v"))), widgets.W.Dropdown)


def test_plotting_figures():
    fig = plotting.image_grid(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    photo = np.zeros((40, 60, 3), np.uint8)
    fig = plotting.detections_figure(photo, [(5, 5, 20, 25, 0.9), (30, 5, 50, 30, 0.5)])
    assert fig.axes[0].get_title() == "2 face(s)" and len(fig.axes[0].patches) == 2
    fig = plotting.sweep_figure([1, 2], {"a": [0.1, 0.2]}, "x", "y")
    assert fig.axes[0].get_xlabel() == "x"
    with pytest.raises(ValueError):
        plotting.image_grid([])
    with pytest.raises(ValueError):
        plotting.as_display(torch.rand(1, 8, 8))
    plt.close("all")


def test_rank_probability_figure_draws_a_line_per_method_and_the_1_over_k_lines():
    import pandas as pd

    profiles = pd.DataFrame({1: [0.9, 0.1], 2: [0.05, 0.7], 3: [0.05, 0.2], "max P": [0.9, 0.7]},
                            index=pd.Index(["clean", "L-BFGS"], name="method"))
    fig = plotting.rank_probability(profiles, k_values=(5, 9))
    ax = fig.axes[0]
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [line.get_label() for line in solid] == ["clean", "L-BFGS"]
    assert list(solid[1].get_xdata()) == [1, 2, 3] and list(solid[1].get_ydata()) == [0.1, 0.7, 0.2]
    assert sorted(float(line.get_ydata()[0]) for line in dashed) == pytest.approx([1 / 9, 1 / 5])
    assert {t.get_text() for t in ax.texts} == {"1/k, k = 5", "1/k, k = 9"}
    _, given = plt.subplots()
    assert plotting.rank_probability(profiles, k_values=(2,), ax=given, max_rank=2) is given.figure
    assert list(given.lines[0].get_xdata()) == [1, 2]
    with pytest.raises(ValueError, match="rank columns"):
        plotting.rank_probability(profiles[["max P"]])
    plt.close("all")


def test_detector_explorer_drives_the_real_detectors(data_folder):
    from facedid_lib.data import facesets as data

    photos = data.wild_photos(data_folder / "wild", limit=16)
    photos = {name: photos[name] for name in ("027779.jpg", "000988.jpg")}
    ex = widgets.detector_explorer(photos)
    assert {"photo", "detector", "haar_scale_factor", "haar_min_neighbors", "hog_upsample", "hog_threshold",
            "mmod_threshold", "yunet_score_threshold"} <= set(ex.controls)
    ex.update(photo="027779.jpg", detector="hog", hog_upsample=1)
    assert ex.figure.axes[0].get_title() == "hog: 3 face(s) in 027779.jpg"
    assert len(ex.figure.axes[0].patches) == 3
    ex.update(detector="haar", haar_min_neighbors=3)
    assert ex.figure.axes[0].get_title() == "haar: 3 face(s) in 027779.jpg"
    ex.update(detector="mmod")
    assert ex.figure.axes[0].get_title().startswith("mmod: ")
    ex.update(detector="yunet")
    assert ex.figure.axes[0].get_title() == "yunet: 3 face(s) in 027779.jpg"
    with pytest.raises(ValueError, match="detector must be one of"):
        widgets.detector_explorer(photos, ["nope"])
    fig = plotting.detections_grid(list(photos.values()), [[], [(1, 1, 5, 5, 1.0)]])
    assert [ax.get_title() for ax in fig.axes] == ["0 face(s)", "1 face(s)"]
    plt.close("all")


def test_method_explorer_shows_the_change_and_its_ssim():
    images = torch.rand(3, 3, 32, 32)
    ex = widgets.method_explorer("blur", images)
    assert list(ex.controls) == ["sigma"]
    ex.update(sigma=0.0)
    assert ex.figure.axes[3].get_title() == "SSIM 1.00"
    ex.update(sigma=3.0)
    assert float(ex.figure.axes[3].get_title().split()[1]) < 0.9
    plt.close("all")


def test_attack_explorer_runs_the_chosen_attack_with_its_own_parameters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4)).eval()
    images, labels = torch.rand(3, 3, 16, 16), torch.tensor([0, 1, 2])
    ex = widgets.attack_explorer(model, images, labels)
    expected = {"attack", "target", "P-FGVM_alpha", "P-FGVM_lam", "P-FGVM_steps", "I-FGSM_eps", "I-FGVM_alpha"}
    assert expected <= set(ex.controls)
    assert "P-FGVM_eps" not in ex.controls and "I-FGSM_lam" not in ex.controls
    ex.controls["I-FGSM_eps"].value = 0.0
    ex.controls["attack"].value = "I-FGSM"
    titles = [ax.get_title() for ax in ex.figure.axes]
    assert titles[3:6] == [f"id {int(p)}, SSIM 1.000" for p in model(images).argmax(1)]
    ex.controls["target"].value = "least_likely"
    ex.controls["attack"].value = "P-FGVM"
    ex.controls["P-FGVM_alpha"].value = 2.0
    assert ex.figure.axes[-1].get_title().startswith("P-FGVM (least_likely): success 1.00")
    plt.close("all")


def test_dedetection_view_shows_every_detector_before_and_after(data_folder):
    from facedid_lib.data import facesets as data

    photos = {"058405.jpg": data.wild_photos(data_folder / "wild")["058405.jpg"]}
    ex = widgets.dedetection_explorer(photos)
    assert set(ex.controls) == {"photo", "eps_levels", "steps", "attacked"}
    assert ex.controls["attacked"].options == ("mmod", "yunet")
    ex.update(eps_levels=0)
    before, after, change = (ax.get_title() for ax in ex.figure.axes)
    assert before.replace("clean", "") == after.replace("de-detected, ε = 0/255", "")
    assert change == "|change| x 10 (L2 0.00)"
    ex.update(eps_levels=8, steps=8)
    assert "mmod 0" in ex.figure.axes[1].get_title()
    ex.update(attacked="yunet", eps_levels=5, steps=40)
    title = ex.figure.axes[1].get_title()
    assert title.startswith("hidden from yunet") and "yunet 0" in title
    plt.close("all")


def test_methods_explorer_switches_methods_and_shows_the_recognizer():
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(4)

    def recognizer(x):  # nearest clean face
        return torch.cdist(x.flatten(1), images.flatten(1)).argmin(1)

    ex = widgets.methods_explorer(["blur", "k-same-pixel"], images, labels, recognizer)
    assert {"method", "blur_sigma", "k-same-pixel_k"} <= set(ex.controls)
    ex.update(blur_sigma=0.0)
    assert ex.figure.axes[4].get_title() == "SSIM 1.00, id 0 ✓"
    assert "MR 0.00" in ex.figure._suptitle.get_text()
    ex.update(method="k-same-pixel")
    assert "k-same-pixel" in ex.figure._suptitle.get_text()
    # a value the method rejects (k above the number of faces) shows its message, not a traceback
    ex.controls["k-same-pixel_k"].value = 10
    assert "at least k = 10" in ex.output.outputs[0]["text"]
    with pytest.raises(ValueError, match="at least k = 10"):
        ex.update()
    plt.close("all")


def test_explorers_without_ipywidgets_say_which_extra_to_install():
    import subprocess
    import sys

    code = "import sys; sys.modules['ipywidgets'] = None; import facedid_lib.viz.widgets"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and 'pip install "facedid[widgets]"' in result.stderr, result.stderr
