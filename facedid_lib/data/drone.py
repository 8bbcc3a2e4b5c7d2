"""A drone clip whose every face box is known: faces of the offline set walking over a ground seen
from above, filmed by a camera that pans, zooms and turns; people enter and leave, occluders pass.

Real drone footage with every face marked in every frame is not something the course can ship, so
this generator makes one (``python -m facedid_lib.data.drone out.mp4``). Each person is an aligned
face chip (:func:`facedid_lib.data.load_faces`) pasted through a soft ellipse, with a body below
it, walking a straight line across the ground between an entry and an exit frame (bodies are
drawn first, then the faces in turn, so a later head may hide an earlier face). The camera is a
similarity transform of the ground per frame (pan along a curve, zoom, a slow turn). A face is
*visible* in a frame when its box lies at least 70 % inside the frame and at least half of it shows
that face (not an occluder, not another head); its true box is the face's unit box (:mod:`facedid_lib.align.head`) carried through the
camera transform.

Example
-------
>>> scene = DroneScene(frames=6, people=3, size=(160, 96), seed=1)
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     truth = drone_clip(Path(folder, "drone.mp4"), scene, faces=demo_faces(3, 64))
...     n = len(list(read_frames(Path(folder, "drone.mp4"))))
>>> n, len(truth), all(box.shape == (4,) for frame in truth for box in frame.values())
(6, 6, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedid_lib.io.video import VideoWriter, read_frames  # noqa: F401  (read_frames: the example)

__all__ = ["DroneScene", "drone_clip", "demo_faces", "render"]


@dataclass(frozen=True)
class DroneScene:
    """What the generator draws: ``frames`` frames of ``size`` (width, height) at ``fps``;
    ``people`` faces of ``face_px`` (smallest, largest face width in pixels at zoom 1) walking at up
    to ``speed`` pixels a frame; ``occluders`` moving bars; the camera zooms between 1 and
    ``zoom`` and turns by up to ``turn`` degrees; ``seed`` fixes everything random."""

    frames: int = 96
    size: tuple = (480, 270)
    fps: int = 24
    people: int = 10
    face_px: tuple = (18, 40)
    speed: float = 2.5
    occluders: int = 2
    zoom: float = 1.3
    turn: float = 10.0
    seed: int = 0


def demo_faces(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` faces of ``size`` pixels, drawn (no data needed): an ellipse of skin, hair, eyes and a
    mouth, each a different shade. For the examples and tests of the generator; the measured clip
    uses real faces (:func:`drone_clip` with ``faces=None``)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        face = np.full((size, size, 3), rng.integers(60, 200, 3), np.uint8)
        c = size // 2
        cv2.ellipse(face, (c, int(c * 0.8)), (int(size * 0.34), int(size * 0.3)), 0, 180, 360,
                    tuple(int(v) for v in rng.integers(10, 90, 3)), -1)
        cv2.ellipse(face, (c, c), (int(size * 0.28), int(size * 0.36)), 0, 0, 360,
                    tuple(int(v) for v in rng.integers(150, 230, 3)), -1)
        for dx in (-1, 1):
            cv2.circle(face, (c + dx * size // 8, int(c * 0.9)), max(1, size // 24), (30, 30, 30), -1)
        cv2.ellipse(face, (c, int(c * 1.3)), (size // 10, size // 24), 0, 0, 360, (120, 40, 40), -1)
        out[i] = face
    return out


def _ground(rng, width: int, height: int) -> np.ndarray:
    """A ground seen from above: smooth patches of grass, paving and shade, with paving lines."""
    import cv2

    light = rng.random((height // 16 + 2, width // 16 + 2)).astype(np.float32)
    light = cv2.GaussianBlur(cv2.resize(light, (width, height), interpolation=cv2.INTER_CUBIC), (0, 0), 3)
    grass = rng.random((height // 64 + 2, width // 64 + 2)).astype(np.float32)
    grass = cv2.resize(grass, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    tint = grass * np.array([95, 140, 80], np.float32) + (1 - grass) * np.array([150, 145, 135], np.float32)
    ground = tint * (0.7 + 0.6 * light[..., None])
    ground[::40, :] *= 0.8
    ground[:, ::40] *= 0.8
    return np.clip(ground, 35, 235).astype(np.uint8)


def _camera(t: int, scene: DroneScene, ground_size) -> np.ndarray:
    """The 2 x 3 similarity from ground to frame coordinates in frame ``t``."""
    gw, gh = ground_size
    w, h = scene.size
    phase = t / max(scene.frames - 1, 1)
    zoom = 1 + (scene.zoom - 1) * 0.5 * (1 - math.cos(2 * math.pi * phase))
    angle = math.radians(scene.turn * math.sin(2 * math.pi * phase))
    centre = np.array([gw * (0.35 + 0.3 * phase), gh * (0.5 + 0.1 * math.sin(3 * math.pi * phase))])
    c, s = zoom * math.cos(angle), zoom * math.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    offset = np.array([w / 2, h / 2]) - rotation @ centre
    return np.hstack([rotation, offset[:, None]])


def _walkers(rng, scene: DroneScene, ground_size, n_faces: int) -> list[dict]:
    gw, gh = ground_size
    people = []
    for i in range(scene.people):
        start = int(rng.integers(0, max(1, scene.frames // 2)))
        stop = int(rng.integers(start + scene.frames // 4, scene.frames + scene.frames // 3))
        angle = rng.uniform(0, 2 * math.pi)
        speed = rng.uniform(0.3, 1.0) * scene.speed
        people.append({"face": i % n_faces, "start": start, "stop": stop,
                       "at": np.array([rng.uniform(0.3, 0.7) * gw, rng.uniform(0.3, 0.7) * gh]),
                       "velocity": speed * np.array([math.cos(angle), math.sin(angle)]),
                       "size": rng.uniform(*scene.face_px)})
    return people


def _overlap(shape, x0: int, y0: int, h: int, w: int):
    """``(canvas slices, image slices)`` where an ``h x w`` image placed at ``(x0, y0)`` meets a
    canvas of ``shape``, or None where it does not."""
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, shape[1]), min(y0 + h, shape[0])
    if ax0 >= ax1 or ay0 >= ay1:
        return None
    return (slice(ay0, ay1), slice(ax0, ax1)), (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))


def _paste(canvas: np.ndarray, image: np.ndarray, x0: int, y0: int, alpha: np.ndarray) -> None:
    where = _overlap(canvas.shape, x0, y0, *image.shape[:2])
    if where is not None:
        inside, part = where
        a = alpha[part][..., None]
        canvas[inside] = (canvas[inside].astype(np.float32) * (1 - a) + image[part].astype(np.float32) * a
                          ).astype(np.uint8)


def _paste_owner(owner: np.ndarray, shown: np.ndarray, x0: int, y0: int, number: int) -> None:
    where = _overlap(owner.shape, x0, y0, *shown.shape)
    if where is not None:
        inside, part = where
        owner[inside][shown[part]] = number


def render(scene: DroneScene, faces: np.ndarray):
    """Yield ``(frame, truth)`` for each frame: the (H, W, 3) uint8 RGB frame and ``truth``,
    person number -> true face box ``(x0, y0, x1, y1)`` of every visible face."""
    import cv2

    rng = np.random.default_rng(scene.seed)
    w, h = scene.size
    ground_size = (2 * w, 2 * h)
    ground = _ground(rng, *ground_size)
    people = _walkers(rng, scene, ground_size, len(faces))
    bars = [{"at": np.array([rng.uniform(0, 2 * w), rng.uniform(0, 2 * h)]),
             "velocity": rng.uniform(-3, 3, 2), "size": (int(rng.uniform(0.05, 0.1) * w), int(0.5 * h)),
             "colour": tuple(int(v) for v in rng.integers(20, 120, 3))} for _ in range(scene.occluders)]
    chip = faces.shape[1]
    yy, xx = np.mgrid[0:chip, 0:chip].astype(np.float32)
    # the head: opaque to about the face's unit box, fading out towards the chip's edge
    head = np.clip(2.0 - 2.2 * np.hypot((xx - chip / 2) / (chip * 0.42), (yy - chip / 2) / (chip * 0.5)), 0, 1)
    unit = (0.4 / 1.8, 1.4 / 1.8)  # the face's unit box in an aligned chip of padding 0.4
    for t in range(scene.frames):
        canvas = ground.copy()
        here = []
        for number, person in enumerate(people):
            if person["start"] <= t < person["stop"]:
                centre = person["at"] + person["velocity"] * (t - person["start"])
                here.append((number, person, centre, int(round(person["size"] * 1.8))))  # the chip around the face
        for number, person, centre, side in here:  # bodies first, then faces: a body never hides a face
            cv2.ellipse(canvas, (int(centre[0]), int(centre[1] + side * 0.9)), (int(side * 0.45), int(side * 0.6)),
                        0, 0, 360, tuple(int(v) for v in faces[person["face"], 2, 2]), -1)
        owner = np.full(canvas.shape[:2], -1, np.int32)  # whose face each pixel shows
        boxes = {}
        for number, person, centre, side in here:
            x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
            image = cv2.resize(faces[person["face"]], (side, side), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(head, (side, side), interpolation=cv2.INTER_LINEAR)
            _paste(canvas, image, x0, y0, alpha)
            _paste_owner(owner, alpha > 0.5, x0, y0, number)
            boxes[number] = np.array([x0 + unit[0] * side, y0 + unit[0] * side,
                                      x0 + unit[1] * side, y0 + unit[1] * side])
        for bar in bars:
            x, y = (bar["at"] + bar["velocity"] * t).astype(int)
            bw, bh = bar["size"]
            cv2.rectangle(canvas, (x, y), (x + bw, y + bh), bar["colour"], -1)
            owner[max(y, 0):max(y + bh + 1, 0), max(x, 0):max(x + bw + 1, 0)] = -1
        camera = _camera(t, scene, ground_size)
        frame = cv2.warpAffine(canvas, camera, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        truth = {}
        for number, (x0, y0, x1, y1) in boxes.items():
            ix0, iy0, ix1, iy1 = (int(v) for v in (x0, y0, math.ceil(x1), math.ceil(y1)))
            shown = owner[max(iy0, 0):max(iy1, 0), max(ix0, 0):max(ix1, 0)] == number
            if not shown.size or shown.mean() < 0.5:
                continue  # an occluder or another head hides most of the face
            corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ camera.T
            box = np.array([*corners.min(0), *corners.max(0)])
            inside = max(0.0, min(box[2], w) - max(box[0], 0)) * max(0.0, min(box[3], h) - max(box[1], 0))
            if inside > 0 and inside >= 0.7 * (box[2] - box[0]) * (box[3] - box[1]):
                truth[number] = box
        yield frame, truth


def drone_clip(path, scene: DroneScene = DroneScene(), faces: np.ndarray | None = None) -> list[dict]:
    """Write the scene's clip to ``path`` (H.264, :class:`~facedid_lib.io.video.VideoWriter`) and
    return, per frame, person number -> true face box of every visible face.

    ``faces``: (N, S, S, 3) uint8 RGB aligned chips (padding 0.4); None: one chip per identity of the
    offline face set (:func:`facedid_lib.data.load_faces`, FACEDID_DATA; LFW on Colab).
    """
    if faces is None:
        from facedid_lib.data.facesets import load_faces

        chips = load_faces(n_identities=scene.people, per_identity=1, size=96, progress=False).images
        faces = (chips.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().numpy()
    truth = []
    with VideoWriter(path, scene.size, scene.fps) as out:
        for frame, boxes in render(scene, faces):
            out.write(frame)
            truth.append(boxes)
    return truth


def _main(argv=None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m facedid_lib.data.drone", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the clip to write (.mp4)")
    parser.add_argument("--frames", type=int, default=DroneScene.frames)
    parser.add_argument("--people", type=int, default=DroneScene.people)
    parser.add_argument("--seed", type=int, default=DroneScene.seed)
    args = parser.parse_args(argv)
    truth = drone_clip(args.output, DroneScene(frames=args.frames, people=args.people, seed=args.seed))
    boxes = [{str(k): [round(float(v), 1) for v in box] for k, box in frame.items()} for frame in truth]
    args.output.with_suffix(".json").write_text(json.dumps({"faces": boxes}, indent=1) + "\n")
    print(f"{args.output}: {len(truth)} frames, {sum(map(len, truth))} visible face-frames; boxes in "
          f"{args.output.with_suffix('.json')}")


if __name__ == "__main__":
    _main()
