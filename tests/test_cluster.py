"""The Ray engine (``facedid ... --engine ray``) on a local cluster of 2 CPUs: the same bytes, summary,
report and exit status as the plain engine; a lost worker and a killed driver lose and redo nothing."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason='the Ray engine is an optional extra: pip install ".[ray]"')

from facedid_lib import cli  # noqa: E402
from facedid_lib.io import images  # noqa: E402
from facedid_lib.io.video import VideoWriter, read_frames  # noqa: E402

# the command's defaults (blur of the whole head, YuNet) at one thread, so both engines compute alike
COMMAND = ["blur", "-q", "--threads", "1"]


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for the module; the command's runs in this process join it."""
    from facedid_lib.cli import cluster

    with cluster.connect(cpus=2):
        yield ray.get_runtime_context().gcs_address


@pytest.fixture(scope="module")
def inputs(data_folder, tmp_path_factory) -> Path:
    """The 16 wild photos twice (in a sub-folder the second time), a 12-frame clip and a broken JPEG."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "again").mkdir()
    for photo in sorted((data_folder / "wild").glob("*.jpg")):
        shutil.copy(photo, folder / photo.name)
        shutil.copy(photo, folder / "again" / photo.name)
    from facedid_lib.data.wild import sample_clip

    with VideoWriter(folder / "clip.mp4", (176, 144), 30) as out:
        for frame in list(read_frames(sample_clip()))[:12]:
            out.write(frame)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    return folder


@pytest.fixture(scope="module")
def plain(inputs, tmp_path_factory):
    """The plain engine's run: outputs, exit status, stdout, report."""
    out = tmp_path_factory.mktemp("plain")
    return _run_here(inputs, out / "out", out / "report.json")


def _run_here(inputs: Path, out: Path, report: Path, *extra: str):
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main([*COMMAND, str(inputs), "-o", str(out), "--report", str(report), *extra])
    return code, stdout.getvalue(), json.loads(report.read_text()), out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _worker_processes():
    """The live processes of the command's Ray workers (the cluster's processes are this one's children)."""
    import psutil

    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE and "FacedidWorker" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:  # it ended meanwhile
            continue
    return found


def test_the_ray_engine_gives_the_plain_engines_bytes_summary_report_and_status(cluster, inputs, plain, tmp_path):
    code, stdout, report, out = _run_here(inputs, tmp_path / "out", tmp_path / "report.json", "--engine", "ray",
                                          "--workers", "2")
    plain_code, plain_stdout, plain_report, plain_out = plain
    assert code == plain_code == 1  # the broken JPEG
    assert stdout.replace(str(out), "OUT") == plain_stdout.replace(str(plain_out), "OUT")
    assert "33 written" in stdout and "1 unreadable" in stdout, stdout  # 32 photos and the clip
    assert _files(out) == _files(plain_out)
    assert report["summary"] == plain_report["summary"]
    ours = [{k: str(v).replace(str(out), "OUT") for k, v in entry.items()} for entry in report["files"]]
    theirs = [{k: str(v).replace(str(plain_out), "OUT") for k, v in entry.items()} for entry in plain_report["files"]]
    assert ours == theirs


def test_a_lost_worker_loses_and_redoes_nothing(cluster, inputs, plain, tmp_path):
    out = tmp_path / "out"
    killed = []

    def kill_one_worker():
        deadline = time.monotonic() + 60
        while len(list(out.rglob("*.jpg"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        for process in _worker_processes()[:1]:
            process.send_signal(signal.SIGKILL)
            killed.append(process.pid)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    code, stdout, report, out = _run_here(inputs, out, tmp_path / "report.json", "--engine", "ray", "--workers", "2")
    killer.join()
    assert killed, "no Ray worker was found to kill"
    plain_code, plain_stdout, plain_report, plain_out = plain
    assert code == plain_code
    assert report["summary"] == plain_report["summary"]  # every file written once, none counted as skipped
    assert _files(out) == _files(plain_out)


def test_a_killed_driver_restarted_finishes_the_rest_and_redoes_nothing(cluster, inputs, plain, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "facedid_lib.cli", *COMMAND, str(inputs), "-o", str(out), "--engine", "ray",
               "--address", cluster, "--workers", "2"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(list(out.rglob("*.jpg"))) < 4 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    deadline = time.monotonic() + 60
    while _worker_processes() and time.monotonic() < deadline:  # the cluster ends the dead driver's workers
        time.sleep(0.1)
    assert not _worker_processes(), "the killed driver's workers still run"
    partial = [p for p in out.rglob("*") if images.is_temporary(p)]  # a file being written when the driver died
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p not in partial}
    assert 0 < len(before) < 33, sorted(before)
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 1, again.stderr  # the broken JPEG, as in the plain run
    summary = again.stdout.strip().splitlines()[-1]
    assert f"{33 - len(before)} written" in summary and f"{len(before)} skipped because the output exists" in summary, \
        (summary, len(before))
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in before.items())  # nothing finished was redone
    assert not any(p.exists() for p in partial)  # the partial files are removed
    assert _files(out) == _files(plain[3])


def test_the_ray_options_say_what_they_need(cluster, inputs, tmp_path, capsys):
    assert cli.main([*COMMAND, str(inputs), "-o", str(tmp_path / "a"), "--workers", "2"]) == 2
    assert "--address and --workers need --engine ray" in capsys.readouterr().err
    assert cli.main(["k-same-pixel", "-q", str(inputs), "-o", str(tmp_path / "b"), "--engine", "ray"]) == 2
    assert "cannot be split over workers" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
