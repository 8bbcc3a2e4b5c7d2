"""evaluate.course.setup: the set-up the chapters share. The notebooks of chapters 2 to 6 run it on
the trained networks; here its wiring is checked with stand-ins (the real networks take minutes)."""

from types import SimpleNamespace

from facedid_lib import evaluate
from facedid_lib.evaluate import course as course_module


def test_setup_calls_the_zoo_the_split_and_the_recognizers_in_order(monkeypatch):
    calls = []
    monkeypatch.setattr(course_module, "model_a", lambda **kw: calls.append(("model_a", kw)) or SimpleNamespace(name="A"))
    monkeypatch.setattr(course_module, "model_b", lambda **kw: calls.append(("model_b", kw)) or SimpleNamespace(name="B"))
    monkeypatch.setattr(course_module, "paper_splits", lambda size: calls.append(("splits", size)) or ("tr", "va", "te"))
    monkeypatch.setattr(course_module, "course_recognizers",
                        lambda a, b, train: calls.append(("recognizers", a.name, b.name, train)) or {"Model A": "r"})
    course = evaluate.course.setup(64, device="cpu", progress=False)
    assert calls == [("model_a", {"device": "cpu", "progress": False}), ("model_b", {"device": "cpu", "progress": False}),
                     ("splits", 64), ("recognizers", "A", "B", "tr")]
    assert (course.model_a.name, course.model_b.name, course.train, course.val, course.test) == ("A", "B", "tr", "va", "te")
    assert course.recognizers == {"Model A": "r"}
    calls.clear()
    assert evaluate.course.setup(recognizers=False).recognizers == {}
    assert [c[0] for c in calls] == ["model_a", "model_b", "splits"] and calls[2] == ("splits", 192)
