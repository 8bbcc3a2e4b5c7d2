"""Benchmarks: ``python -m facedid_lib.bench {models,attacks,methods,memory,video,cluster,threats} [--batch 32] [--repeat 3] [--device cpu]``.

``models`` measures images per second of the forward pass and of forward + backward (the
gradient with respect to the input, as an attack needs it) for Model A (also with chapter 7's
m-SVDD layer, 30 one-class classifiers, in place of its last layer), the PyTorch port of
dlib's face descriptor, and dlib itself (forward only: the compiled library has no gradients),
on one batch of real face chips, all in one run so the numbers compare. Best of ``repeat``.

``attacks`` measures images per second of our I-FGSM and P-FGVM against torchattacks' BIM (the
same update as I-FGSM) on the same model, batch and number of steps: Model A on its input and
the dlib descriptor port (Model B's backbone with a head) on 192-pixel chips. Then the minimal
attacks of :mod:`facedid_lib.attacks.minimal` against torchattacks on the same model and batch,
the labels being the model's own predictions (every face must be moved): DeepFool (at most
``steps`` iterations, overshoot 0.02) against torchattacks' DeepFool, C&W (``steps`` Adam
iterations, c = 1, one round: ``search_steps=1``, as torchattacks' CW has no search over c)
against torchattacks' CW, and L-BFGS (ours only: ``steps`` L-BFGS iterations per try, two
bisections of c after the bracket, the whole batch at once). These run on Model A only on a CPU (torchattacks' DeepFool takes one
backward pass per face and class: minutes per batch on Model B), on both models on a GPU.
The table's ``fooled`` column is the share of faces the attack's output fools.

``methods`` measures images per second of every registered de-identification method at its
default parameters on 192-pixel chips (the eigenface methods on a face space of the chips
themselves), torchvision's Gaussian blur beside ours, and photos per second of the whole
pipeline (detect, align, de-identify, paste back) on the wild photos.

``memory`` measures the peak memory (maximum resident set size) and the time of the ``facedid``
command on one camera-sized photo of 12 and one of 48 megapixels (a wild photo of the data folder
enlarged onto a grey canvas, its face a third of the width, saved as JPEG), each in a fresh
process as a user would run it (read, detect: HOG, in tiles on large photos; align, pixelate,
paste back, write), its peak read from the kernel's account of the finished process (``os.wait4``,
what ``/usr/bin/time -v`` prints). ``--batch`` and ``--repeat`` are not used.

``video`` generates three drone clips (:mod:`facedid_lib.data.drone`, seeds 0 to 2, 96 frames of
480 x 270 or ``--frames``, every face box known) and runs ``facedid fill`` on each in a fresh process, frame by
frame and tracked, and ``deface --replacewith solid`` beside them where ``--deface`` names its
executable (it needs the GUI build of OpenCV: give it an environment of its own). Both draw black
over the faces, so a pixel is *covered* where the output is black (every channel under 24), and a
true face-frame is left uncovered when less than 90 % of its inscribed ellipse is
(:func:`facedid_lib.evaluate.video.uncovered_faces`). Frames per second are the clip's frames over
the whole process's wall time (start-up included, as a user waits for it), best of ``--repeat``;
``peak MB`` is that run's maximum resident set size: run with ``--frames 96`` and ``--frames 384``,
it shows whether memory grows with the clip's length.

``cluster`` runs ``facedid blur`` on the wild photos once and copied ten times (16 and 160 files)
with the plain engine and with the Ray engine (``--engine ray``, a local cluster started by the
run; Ray is the ``ray`` extra), at 1 and 2 workers, each in a fresh process: seconds and files per
second, start-up included. ``--batch`` is not used.

``threats`` times one adaptive attacker of chapter 8 (:func:`threats`): SFace's embeddings of a
pixelated gallery of ``--batch`` identities x 5 photos, the head trained on them, and Model A
fine-tuned on the same photos for 5 epochs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from facedid_lib.core import config
from facedid_lib.data import facesets as data


def _best_time(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, lazy initialisation)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _forward_backward(model, images):
    def run():
        x = images.clone().requires_grad_(True)
        model(x).sum().backward()
    return run


def models(batch: int = 32, repeat: int = 3, device=None) -> pd.DataFrame:
    """Images per second of Model A (plain and with chapter 7's m-SVDD layer in place of its last
    layer), the dlib port and dlib, forward and forward + backward."""
    from facedid_lib.recognize.dlib_resnet import load_resnet, to_dlib_chip
    from facedid_lib.core import zoo
    from facedid_lib.recognize.recognizers import ModelA
    from facedid_lib.recognize.blackbox import _recognizer
    from facedid_lib.recognize.dlib_resnet import default_path
    from facedid_lib.defences import svdd

    device = config.resolve_device(device)
    faces = data.load_faces(size=192, n_identities=batch, per_identity=1, progress=False)
    chips192 = faces.images[:batch].to(device)
    chips150 = to_dlib_chip(chips192)
    size_a = zoo.recipe("model-a").image_size
    model_a = ModelA(30, size_a).to(device).eval()
    images_a = torch.nn.functional.interpolate(chips192, size=(size_a, size_a), mode="bilinear", antialias=True)
    resnet = load_resnet(device=device)
    dlib_model = _recognizer(default_path())
    dlib_chips = [np.ascontiguousarray((c.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8))
                  for c in chips150]

    defended_a = svdd.MultiSVDD(30, model_a.classifier[-1].in_features).to(device)
    defended_a = torch.nn.Sequential(svdd.Penultimate(model_a), defended_a).eval()
    rows = []
    for name, model, images in [("Model A", model_a, images_a), ("Model A + m-SVDD", defended_a, images_a),
                                ("dlib ResNet (torch port)", resnet, chips150)]:
        with torch.no_grad():
            forward = _best_time(lambda: (model(images), _sync(device)), repeat)
        both = _best_time(lambda: (_forward_backward(model, images)(), _sync(device)), repeat)
        rows.append({"model": name, "forward img/s": batch / forward, "forward+backward img/s": batch / both})
    forward = _best_time(lambda: dlib_model.compute_face_descriptor(dlib_chips), repeat)
    rows.append({"model": "dlib (compiled, CPU)", "forward img/s": batch / forward,
                 "forward+backward img/s": float("nan")})
    table = pd.DataFrame(rows).set_index("model")
    table.attrs.update(batch=batch, device=str(device), threads=torch.get_num_threads())
    return table


def attacks(batch: int = 32, repeat: int = 3, steps: int = 10, device=None,
            minimal_models: tuple[str, ...] | None = None, classes: int = 30) -> pd.DataFrame:
    """Images per second of our attacks and torchattacks' on the same model, batch and steps.

    The models are Model A and Model B with ``classes`` outputs (the course's: 30), untrained: an
    attack's cost does not depend on the weights, and DeepFool's grows with the classes.

    I-FGSM, P-FGVM (ours) and BIM (torchattacks) on both models; DeepFool and C&W (ours and
    torchattacks') and L-BFGS (ours) on ``minimal_models`` (None: both models on a GPU, Model A
    only on a CPU), attacking the model's own predictions. ``fooled``: the share of faces fooled.
    """
    import torchattacks

    from facedid_lib.attacks import adversarial, minimal
    from facedid_lib.core import zoo
    from facedid_lib.recognize.recognizers import DescriptorHead, ModelA, ModelB, Resized

    device = config.resolve_device(device)
    if minimal_models is None:
        minimal_models = ("Model A", "Model B") if device.type == "cuda" else ("Model A",)
    config.seed_everything(0)
    faces = data.load_faces(size=192, n_identities=batch, per_identity=1, progress=False)
    chips = faces.images[:batch].to(device)
    labels = torch.arange(batch, device=device) % classes
    size_a = zoo.recipe("model-a").image_size
    models = {"Model A": Resized(ModelA(classes, size_a), size_a),
              "Model B": ModelB(DescriptorHead(classes))}
    rows = []
    for name, model in models.items():
        model.to(device).eval()
        runs = {"I-FGSM (ours)": adversarial.IFGSM(model, eps=8 / 255, alpha=1 / 255, steps=steps),
                "P-FGVM (ours)": adversarial.PFGVM(model, alpha=0.5, lam=0.1, steps=steps),
                "BIM (torchattacks)": torchattacks.BIM(model, eps=8 / 255, alpha=1 / 255, steps=steps)}
        faces_of = {attack: (chips, labels) for attack in runs}
        if name in minimal_models:
            with torch.no_grad():
                predicted = model(chips).argmax(1)
            minimal_runs = {
                "DeepFool (ours)": minimal.DeepFool(model, steps=steps, overshoot=0.02),
                "DeepFool (torchattacks)": torchattacks.DeepFool(model, steps=steps, overshoot=0.02),
                "C&W (ours)": minimal.CW(model, c=1.0, kappa=0.0, steps=steps, lr=0.01, search_steps=1),
                "CW (torchattacks)": torchattacks.CW(model, c=1.0, kappa=0.0, steps=steps, lr=0.01),
                "L-BFGS (ours)": minimal.LBFGS(model, steps=steps, search_steps=2)}
            runs.update(minimal_runs)
            faces_of.update({attack: (chips, predicted) for attack in minimal_runs})
        for attack, run in runs.items():
            (images, given), out = faces_of[attack], {}
            seconds = _best_time(lambda: (out.__setitem__("images", run(images, given)), _sync(device)), repeat)
            with torch.no_grad():
                fooled = (model(out["images"]).argmax(1) != given).float().mean().item()
            rows.append({"model": name, "attack": attack, "img/s": len(images) / seconds, "fooled": fooled})
    table = pd.DataFrame(rows).set_index(["model", "attack"])
    table.attrs.update(batch=batch, device=str(device), threads=torch.get_num_threads(), steps=steps)
    return table


def methods(batch: int = 32, repeat: int = 3, device=None) -> pd.DataFrame:
    """Images per second of every registered method, torchvision's blur, and the photo pipeline."""
    import torchvision.transforms.functional as TF

    from facedid_lib import pipeline
    from facedid_lib.methods import REGISTRY, provide
    from facedid_lib.methods.reconstruction import FaceSpace

    device = config.resolve_device(device)
    config.seed_everything(0)
    chips = data.load_faces(size=192, n_identities=batch, per_identity=2, progress=False).images.to(device)
    space = FaceSpace.fit(chips, min(50, len(chips) - 1))
    chips = chips[:batch]
    rows = []
    for name, spec in REGISTRY.items():
        given = spec.pick({"space": space})
        if "n_components" in spec.defaults():
            given["n_components"] = len(space)
        if set(spec.needs) - set(given):  # a trained prerequisite: its provider trains or loads it
            given.update(provide(spec, size=chips.shape[-1], device=device))
        seconds = _best_time(lambda: (spec(chips, **given), _sync(device)), repeat)
        rows.append({"what": name, "unit": "chips/s", "speed": len(chips) / seconds})
    sigma = REGISTRY["blur"].defaults()["sigma"]
    size = 2 * int(np.ceil(3 * sigma)) + 1  # the kernel of ours
    seconds = _best_time(lambda: (TF.gaussian_blur(chips, [size, size], [sigma, sigma]), _sync(device)), repeat)
    rows.append({"what": "blur (torchvision)", "unit": "chips/s", "speed": len(chips) / seconds})
    photos = list(data.wild_photos(limit=4).values())
    pixelate = REGISTRY["pixelate"]
    seconds = _best_time(lambda: [pipeline.deidentify_photo(p, pixelate, device=device) for p in photos], repeat)
    rows.append({"what": "photo pipeline (HOG + pixelate)", "unit": "photos/s", "speed": len(photos) / seconds})
    seconds = _best_time(lambda: [pipeline.deidentify_photo(p, pixelate, "yunet", device=device, cover="head",
                                                            landmarks="auto") for p in photos], repeat)
    rows.append({"what": "the command's default (YuNet + whole head, pixelate)", "unit": "photos/s",
                 "speed": len(photos) / seconds})
    keyed, threads = list(enumerate(photos)), torch.get_num_threads()
    torch.set_num_threads(max(1, threads - 1))  # the command's split (facedid_lib.cli.run._set_threads)
    try:
        seconds = _best_time(lambda: list(pipeline.deidentify_photos(
            keyed, pixelate, detector="yunet", device=device, cover="head", landmarks="auto", ahead=1)), repeat)
    finally:
        torch.set_num_threads(threads)
    rows.append({"what": "the same, next photo located ahead (torch one thread fewer)", "unit": "photos/s",
                 "speed": len(photos) / seconds})
    table = pd.DataFrame(rows).set_index("what")
    table.attrs.update(batch=len(chips), device=str(device), threads=torch.get_num_threads())
    return table


def _camera_photo(path: Path, width: int, height: int) -> None:
    """A ``width x height`` JPEG: the data folder's first wild photo, a third of the width, on grey."""
    from PIL import Image

    name, photo = next(iter(data.wild_photos(limit=1).items()))
    face = Image.fromarray(photo)
    face = face.resize((width // 3, round(face.height * (width // 3) / face.width)), Image.LANCZOS)
    canvas = Image.new("RGB", (width, height), (120, 130, 140))
    canvas.paste(face, (width // 3, height // 6))
    canvas.save(path, quality=90)


def _measured(command: list[str]) -> tuple[float, float]:
    """Run ``command`` in a fresh process: its wall time in seconds and its peak memory in MiB (the
    maximum resident set size that the kernel reports for it, as GNU time's ``-v`` does, read with
    ``os.wait4``). A command that fails raises ``RuntimeError`` with the end of its stderr."""
    import os

    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{Path(command[0]).name} {' '.join(command[1:3])} ... failed: "
                               f"{err.read().decode(errors='replace')[-500:]}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def memory(batch: int = 0, repeat: int = 0, device=None, sizes=((4000, 3000), (8000, 6000))) -> pd.DataFrame:
    """Peak memory and time of ``facedid pixelate`` on one photo per size, each in a fresh process."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for width, height in sizes:
            photo = Path(folder) / f"photo-{width}x{height}.jpg"
            _camera_photo(photo, width, height)
            command = [sys.executable, "-m", "facedid_lib.cli", "pixelate", str(photo),
                       "-o", str(Path(folder) / "out"), "--overwrite", "-q"]
            if device:
                command += ["--device", str(device)]
            seconds, peak = _measured(command)
            megapixels = width * height / 1e6
            rows.append({"photo": f"{width} x {height}", "megapixels": megapixels, "peak MB": peak,
                         "seconds": seconds, "s per megapixel": seconds / megapixels})
    table = pd.DataFrame(rows).set_index("photo")
    table.attrs.update(batch=1, device=str(config.resolve_device(device)), threads=torch.get_num_threads())
    return table


def video(batch: int = 0, repeat: int = 1, device=None, seeds=(0, 1, 2), deface: str | None = None,
          frames: int = 96) -> pd.DataFrame:
    """Frames per second and true face-frames left uncovered on generated drone clips of ``frames``
    frames: ``facedid fill`` frame by frame and tracked, and ``deface`` where ``deface`` is its executable."""
    from facedid_lib.data.drone import DroneScene, drone_clip
    from facedid_lib.evaluate.video import uncovered_faces
    from facedid_lib.io.video import read_frames

    tools = {"facedid fill, frame by frame": ["--no-tracking"], "facedid fill, tracked (default)": []}
    rows = []
    with tempfile.TemporaryDirectory(prefix="facedid-bench-video-") as folder:
        for seed in seeds:
            clip = Path(folder, f"drone{seed}.mp4")
            truth = drone_clip(clip, DroneScene(frames=frames, seed=seed))
            commands = {name: [sys.executable, "-m", "facedid_lib.cli", "fill", str(clip), "-o",
                               str(Path(folder, f"out{k}")), "--overwrite", "-q", *extra,
                               *(["--device", str(device)] if device else [])]
                        for k, (name, extra) in enumerate(tools.items())}
            outputs = {name: Path(folder, f"out{k}", clip.name) for k, name in enumerate(tools)}
            if deface:
                outputs["deface 1.5 (solid)"] = Path(folder, f"deface{seed}.mp4")
                commands["deface 1.5 (solid)"] = [deface, str(clip), "-o", str(outputs["deface 1.5 (solid)"]),
                                                  "--replacewith", "solid"]
            for name, command in commands.items():
                seconds, peak = min(_measured(command) for _ in range(max(repeat, 1)))
                masks = [frame.max(axis=2) < 24 for frame in read_frames(outputs[name])]
                total = sum(len(faces) for faces in truth)
                left = uncovered_faces(masks, truth)
                rows.append({"clip": f"seed {seed}", "tool": name, "face-frames": total, "left uncovered": len(left),
                             "frames/s": len(truth) / seconds, "peak MB": peak,
                             "pixels covered %": 100 * float(np.mean(masks))})
    table = pd.DataFrame(rows).set_index(["clip", "tool"])
    table.attrs.update(batch=1, device=str(config.resolve_device(device)), threads=torch.get_num_threads())
    return table


def cluster(batch: int = 0, repeat: int = 1, device=None, copies: tuple = (1, 10)) -> pd.DataFrame:
    """Seconds and files per second of ``facedid blur`` on the wild photos copied ``copies`` times,
    each run in a fresh process: the plain engine at 1 and 2 threads, and the Ray engine (a local
    cluster started for the run) with 1 worker of 2 threads and with 1 and 2 workers of 1 thread.
    The Ray engine's overhead is its time minus the plain engine's at the same threads. Best of ``repeat``."""
    import shutil

    photos = sorted((config.data_dir() or Path(".")).joinpath("wild").glob("*.jpg"))
    if not photos:
        raise RuntimeError("the cluster benchmark needs the wild photos of the data folder (FACEDID_DATA)")
    engines = {"plain, 1 thread": ["--threads", "1"], "plain, 2 threads": ["--threads", "2"],
               "ray, 1 worker x 2 threads": ["--engine", "ray", "--workers", "1", "--threads", "2"],
               "ray, 1 worker x 1 thread": ["--engine", "ray", "--workers", "1", "--threads", "1"],
               "ray, 2 workers x 1 thread": ["--engine", "ray", "--workers", "2", "--threads", "1"]}
    rows = []
    with tempfile.TemporaryDirectory(prefix="facedid-bench-cluster-") as folder:
        for n in copies:
            inputs = Path(folder, f"in{n}")
            for k in range(n):
                (inputs / str(k)).mkdir(parents=True)
                for photo in photos:
                    shutil.copy(photo, inputs / str(k) / photo.name)
            for name, extra in engines.items():
                out = Path(folder, f"out{n}-{len(rows)}")
                command = [sys.executable, "-m", "facedid_lib.cli", "blur", str(inputs), "-o", str(out), "--overwrite",
                           "-q", *extra, *(["--device", str(device)] if device else [])]
                seconds = min(_measured(command)[0] for _ in range(max(repeat, 1)))
                rows.append({"files": n * len(photos), "engine": name, "seconds": seconds,
                             "files/s": n * len(photos) / seconds})
    table = pd.DataFrame(rows).set_index(["files", "engine"])
    table.attrs.update(batch=1, device=str(config.resolve_device(device)), threads="per engine")
    return table


def threats(batch: int = 30, repeat: int = 1, device=None, per_identity: int = 5, epochs: int = 5) -> pd.DataFrame:
    """Seconds of one adaptive attacker (chapter 8, :class:`facedid_lib.evaluate.threats.Adaptive`)
    on a protected gallery of ``batch`` identities x ``per_identity`` photos (pixelated, blocks of
    12): SFace's embeddings (computed, not remembered), its head's training and Model A's fine-tune
    for ``epochs`` epochs (an untrained Model A: the time does not depend on its weights)."""
    from facedid_lib import methods
    from facedid_lib.core import memo, zoo
    from facedid_lib.evaluate import threats as threat_models
    from facedid_lib.recognize import sface
    from facedid_lib.recognize.recognizers import ModelA

    device = config.resolve_device(device)
    faces = data.load_faces(size=192, n_identities=batch, per_identity=per_identity, progress=False)
    protected = methods.get("pixelate")(faces.images, block=12)
    recipe = zoo.recipe("model-a")
    found = {}

    def embed():
        with memo.disabled():
            found["embeddings"] = sface.embed(protected)

    def head():
        threat_models.train_head(found["embeddings"], faces.labels, faces.n_classes, epochs=60)

    def fine_tune():
        torch.manual_seed(0)
        model = ModelA(faces.n_classes, recipe.image_size).to(device)
        threat_models.fine_tune_model(model, protected.to(device), faces.labels.to(device), recipe, epochs=epochs)
        _sync(device)

    rows = []
    for name, run, images in [("SFace embeddings", embed, len(faces)), ("SFace head, 60 epochs", head, len(faces)),
                              (f"Model A fine-tune, {epochs} epochs", fine_tune, len(faces) * epochs)]:
        seconds = _best_time(run, repeat)
        rows.append({"step": name, "seconds": seconds, "img/s": images / seconds})
    table = pd.DataFrame(rows).set_index("step")
    table.attrs.update(batch=len(faces), device=str(device), threads=torch.get_num_threads())
    return table


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facedid_lib.bench", description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["models", "attacks", "methods", "memory", "video", "cluster", "threats"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--deface", default=None, help="video: deface's executable, run beside facedid")
    parser.add_argument("--frames", type=int, default=96, help="video: frames per generated clip")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeat < 1:
        parser.error("--batch and --repeat must be positive")
    suite = {"models": models, "attacks": attacks, "methods": methods, "memory": memory, "video": video,
             "cluster": cluster, "threats": threats}[args.suite]
    extra = {"deface": args.deface, "frames": args.frames} if args.suite == "video" else {}
    table = suite(args.batch, args.repeat, device=args.device, **extra)
    print(f"batch {table.attrs['batch']}, device {table.attrs['device']}, torch threads {table.attrs['threads']}")
    print(table.round(2 if args.suite == "attacks" else 1).to_string())
    if args.suite == "models":
        forward = table["forward img/s"]
        ratio = forward["dlib ResNet (torch port)"] / forward["dlib (compiled, CPU)"]
        print(f"torch port / dlib forward speed: {ratio:.1f}x")
    elif args.suite == "attacks":
        speed = table["img/s"]
        pairs = [("I-FGSM (ours)", "BIM (torchattacks)"), ("P-FGVM (ours)", "BIM (torchattacks)"),
                 ("DeepFool (ours)", "DeepFool (torchattacks)"), ("C&W (ours)", "CW (torchattacks)")]
        for model in speed.index.get_level_values(0).unique():
            for ours, theirs in pairs:
                if (model, ours) in speed.index:
                    print(f"{model}: {ours} / {theirs} speed: {speed[model, ours] / speed[model, theirs]:.2f}x")
    elif args.suite == "methods":
        speed = table["speed"]
        print(f"blur, ours / torchvision speed: {speed['blur'] / speed['blur (torchvision)']:.2f}x")
    elif args.suite == "video":
        totals = table.groupby(level="tool", sort=False)[["face-frames", "left uncovered"]].sum()
        print(totals.to_string())
    elif args.suite == "threats":
        print(f"one adaptive attacker, both recognizers: {table['seconds'].sum():.1f} s")
    elif args.suite == "cluster":
        seconds = table["seconds"]
        for files in seconds.index.get_level_values("files").unique():
            at = seconds[files]
            print(f"{files} files: the Ray engine's overhead (1 worker x 2 threads - plain, 2 threads) "
                  f"{at['ray, 1 worker x 2 threads'] - at['plain, 2 threads']:.1f} s; 2 workers / 1 worker "
                  f"(1 thread each) speed: {at['ray, 1 worker x 1 thread'] / at['ray, 2 workers x 1 thread']:.2f}x")
    else:
        per = table["s per megapixel"]
        print(f"time per megapixel, largest / smallest photo: {per.iloc[-1] / per.iloc[0]:.2f}x")


if __name__ == "__main__":
    main()
