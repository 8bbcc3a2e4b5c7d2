"""The "Protect my photo" page used as a person would: headless Chromium with the network off
uploads a wild photo that carries EXIF, chooses a level, waits, downloads; the faces changed, the
rest of the photo did not, the download has no metadata, the page asked no other host for
anything, and the stopped page left no upload behind. Skipped where Gradio (``facedid[app]``),
Chromium or ChromeDriver is missing (.ci/run installs all three). A screenshot of the page goes to
``_build/screenshots/protect-my-photo.png``."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from facedid_lib.app import protect as core

pytest.importorskip("gradio")
pytest.importorskip("selenium")
ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("browser_check", ROOT / ".ci" / "browser_check.py")
bc = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bc
_spec.loader.exec_module(bc)
if None in bc.chromium_paths():
    pytest.skip("Chromium or ChromeDriver is not installed", allow_module_level=True)

LEVEL = core.LEVELS[1]  # the whole head painted black: fast, and easy to see


def test_offered_methods_and_refused_uploads(tmp_path):
    offered = core.offered_methods()
    assert "blur" in offered and "hide-from-detectors" in offered
    assert "k-same-pixel" not in offered and "autoencoder" not in offered  # whole-set, trained first
    with pytest.raises(ValueError, match="no privacy level"):
        core.choice("everything, please")
    with pytest.raises(ValueError, match="not offered"):
        core.choice(core.EXPERT, "k-same-pixel", {})
    with pytest.raises(ValueError, match="face_block"):
        core.choice(core.EXPERT, "pixelate", {"face_block": 99.0})
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(ValueError, match="not an image"):
        core.check_upload(tmp_path / "notes.txt")
    Image.new("RGB", (8000, 6000)).save(tmp_path / "huge.png")
    with pytest.raises(ValueError, match="48 megapixels"):
        core.check_upload(tmp_path / "huge.png")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(find, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        found = find()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"the page did not show {what} within {timeout} s")


def test_a_person_protects_a_photo_offline(data_folder, tmp_path):
    from selenium.webdriver.common.by import By

    photo = np.asarray(Image.open(data_folder / "wild" / "058405.jpg").convert("RGB"))
    exif = Image.Exif()
    exif[0x010E] = "holiday, Alice and Bob"  # ImageDescription
    exif[0x013B] = "Alice"  # Artist
    upload = tmp_path / "family.jpg"
    Image.fromarray(photo).save(upload, quality=95, exif=exif)
    assert Image.open(upload).getexif()  # the upload carries metadata
    port, temp, downloads = _free_port(), tmp_path / "server-tmp", tmp_path / "downloads"
    temp.mkdir()
    downloads.mkdir()
    server = subprocess.Popen([sys.executable, "-m", "facedid_lib.app", "--port", str(port)],
                              env={**os.environ, "TMPDIR": str(temp)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    driver = None
    try:
        def up():
            try:
                return urllib.request.urlopen(url, timeout=1).status == 200
            except OSError:
                return False

        _wait(up, 60, "itself (the server)")
        assert [p.name for p in temp.iterdir()][0].startswith("facedid-page-")
        driver = bc.make_driver(offline=False)  # loopback only: no host name resolves
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(url)
        field = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"), 30, "the upload")
        field[0].send_keys(str(upload))
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#upload a[download], #upload .file-preview tr"), 30,
              "the uploaded file")
        driver.find_element(By.CSS_SELECTOR, "#level input").click()
        option = f'#level li[role=option][aria-label="{LEVEL.label}"]'
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, option), 10, "the levels")[0].click()
        driver.find_element(By.CSS_SELECTOR, "#go").click()
        link = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#download a[download]"), 60, "the download")
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#table table tbody tr"), 10, "the table")
        driver.set_window_size(1280, 1500)
        (ROOT / "_build" / "screenshots").mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ROOT / "_build" / "screenshots" / "protect-my-photo.png"))
        link[0].click()
        archive = _wait(lambda: [p for p in downloads.glob("*.zip")], 30, "the downloaded file")[0]
        requests = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    # the page asked no other host for anything
    hosts = {urlsplit(m["params"]["request"]["url"]).hostname for m in requests
             if m.get("method") == "Network.requestWillBeSent"}
    assert hosts and hosts <= {"127.0.0.1", None}, hosts
    # the download: one JPEG, no metadata, the photo as the library protects it
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["family-protected.jpg"]
        data = zipped.read("family-protected.jpg")
    result = Image.open(io.BytesIO(data))
    assert not result.getexif() and b"Exif" not in data and b"Alice" not in data and "icc_profile" not in result.info
    got = np.asarray(result.convert("RGB")).astype(int)
    expected = core.protect(core.check_upload(upload), LEVEL.method, LEVEL.params)
    assert np.abs(got - expected.after).max() <= 1
    # the faces changed, the rest did not (but for the JPEG's rounding)
    original = np.asarray(Image.open(upload).convert("RGB")).astype(int)
    changed = np.abs(expected.new.astype(int) - np.asarray(core.check_upload(upload))).max(axis=2) > 0
    assert changed.mean() > 0.05 and np.abs(got - original)[changed].mean() > 30
    assert np.abs(got - original)[~changed].mean() < 2
    # the stopped page removed its uploads
    assert not any(temp.iterdir()), (list(temp.rglob("*")), output)
