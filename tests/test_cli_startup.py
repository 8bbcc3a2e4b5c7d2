"""The command's start-up: help, the version and argument errors from the stored catalogue of the
registries (facedid_lib.cli.catalogue), without torch; the same parser as the registries give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facedid_lib.cli import catalogue, parser

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FACEDID_CACHE=str(cache),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def _helps(built) -> dict:
    """The help text of the parser and of each sub-command."""
    commands = next(a for a in built._actions if a.__class__.__name__ == "_SubParsersAction")
    return {"": built.format_help(), **{name: sub.format_help() for name, sub in commands.choices.items()}}


def test_help_version_and_bad_arguments_import_no_torch(tmp_path):
    first = _run("from facedid_lib.cli import main; main(['-h'])", tmp_path)  # imports the library, stores
    assert first.returncode == 0 and "METHOD" in first.stdout, first.stderr
    assert (tmp_path / catalogue.FILE_NAME).is_file()
    checks = [(["-h"], 0, "usage: facedid"), (["--version"], 0, "facedid "), (["blur", "-h"], 0, "--face-sigma"),
              (["blur", "--face-sigma", "-3", "a.jpg", "-o", "out"], 2, "face_sigma must lie in"),
              (["no-such-method", "a.jpg", "-o", "out"], 2, "invalid choice")]
    for argv, status, said in checks:
        code = (f"import sys; from facedid_lib.cli import main; status = main({argv!r}); "
                "print('torch' in sys.modules, status)")
        done = _run(code, tmp_path)
        assert done.returncode == 0, done.stderr
        *shown, last = done.stdout.strip().splitlines()
        assert last == f"False {status}", (argv, done.stdout, done.stderr)
        assert said in "\n".join(shown) + done.stderr, (argv, done.stdout, done.stderr)


def test_a_run_imports_the_library_and_parses_from_the_registries(tmp_path):
    assert _run("from facedid_lib.cli import main; main(['-h'])", tmp_path).returncode == 0
    code = ("import sys; from facedid_lib.cli import main; status = main(['blur', 'missing.jpg', '-o', 'out']); "
            "print('torch' in sys.modules, status)")
    done = _run(code, tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "True 2", done.stderr  # the run's own check of its inputs
    assert "missing.jpg" in done.stderr


def test_the_stored_catalogue_gives_the_registries_parser():
    stored = json.loads(json.dumps(catalogue.live()))  # what the file holds
    assert _helps(parser.build_parser(stored)) == _helps(parser.build_parser())


def test_an_old_or_broken_catalogue_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    assert catalogue.stored() is None  # none stored yet
    assert catalogue.store(catalogue.live()) and catalogue.stored() == catalogue.live()
    monkeypatch.setattr(catalogue, "sources_key", lambda: "edited since")  # a library file changed
    assert catalogue.stored() is None
    monkeypatch.undo()
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    (tmp_path / catalogue.FILE_NAME).write_text("{not json")
    assert catalogue.stored() is None
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    monkeypatch.setenv("FACEDID_CACHE", str(blocked))
    assert catalogue.store(catalogue.live()) is False  # no error: the next start imports the library


def test_the_key_follows_the_library_s_files(monkeypatch):
    key = catalogue.sources_key()
    assert key == catalogue.sources_key()
    monkeypatch.setattr(catalogue.facedid_lib, "__version__", "0.0.0-other")
    assert catalogue.sources_key() != key


@pytest.mark.parametrize("argv", [["-h"], ["blur", "-h"]])
def test_in_process_callers_see_methods_registered_at_run_time(argv, capsys):
    from facedid_lib import cli, methods
    from facedid_lib.core.params import Param

    @methods.register("test-late", "test", Param("gain", 1.5, "brightness factor", low=1.0, high=3.0))
    def late(images, gain=1.5):
        """Late: registered after the catalogue was stored."""
        return images

    try:
        assert cli.main(argv) == 0
        assert ("test-late" in capsys.readouterr().out) == (argv == ["-h"])
    finally:
        del methods.REGISTRY["test-late"]
