"""The pure model (``streams/model``) compiled to C with mypyc, loaded only for its exact sources.

The model is plain, strictly typed Python; mypyc compiles it unchanged to C extensions. In the
worker the compiled model makes a step ~15 % cheaper in process and the worker ~20 % more events
per CPU-second (docs/stream-worker.md, "Compiled model").

A build lives outside the source tree, in ``<cache>/<python tag>-<fingerprint>/`` (cache:
``WATCHFLOW_NATIVE_DIR``, default ``~/.cache/watchflow/native``), the fingerprint hashing every
model source and the mypy version. ``streams/model/__init__.py`` (never compiled) calls
``install``: when the directory for the sources as they are now exists, an import finder serves
the model's modules from it; otherwise they are imported from source as usual. An edited model
is therefore never shadowed by a stale build: it runs as pure Python until rebuilt.
``WATCHFLOW_PURE_MODEL=1`` forces pure Python (the tests run the model both ways).

``python -m streams.native build`` compiles (needs mypy and a C compiler; ~1 minute on one
core) and is a no-op when the build exists; ``scripts/bootstrap`` runs it. Without mypy or a
compiler it says so and the model stays pure Python: same results, slower.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

MODEL = Path(__file__).resolve().parent / "model"
PACKAGE = "streams.model"
GROUP = "watchflow_model"  # mypyc's shared library: the top-level module watchflow_model__mypyc
_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def sources(model: Path = MODEL) -> list[Path]:
    """The modules compiled: all of the model but its ``__init__`` (which installs the finder)."""
    return sorted(p for p in model.glob("*.py") if p.name != "__init__.py")


def fingerprint(model: Path = MODEL) -> str:
    """Changes with any model source (name or bytes), the Python tag and the mypy version."""
    h = hashlib.sha256(sys.implementation.cache_tag.encode())
    try:
        h.update(version("mypy").encode())
    except PackageNotFoundError:
        h.update(b"-")
    for path in sources(model):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build_dir(model: Path = MODEL) -> Path:
    root = os.environ.get("WATCHFLOW_NATIVE_DIR") or Path.home() / ".cache/watchflow/native"
    return Path(root) / f"{sys.implementation.cache_tag}-{fingerprint(model)}"


class _Finder(importlib.abc.MetaPathFinder):
    """Serves the compiled model's modules (and mypyc's shared library) from one build."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        return None if file is None else importlib.util.spec_from_file_location(fullname, file)


def modules_in(build: Path) -> dict[str, Path]:
    """Module name -> extension file, for every compiled module of a build directory."""
    files = {f"{GROUP}__mypyc": build / f"{GROUP}__mypyc{_SUFFIX}"}
    for src in sources():
        files[f"{PACKAGE}.{src.stem}"] = build / "streams" / "model" / f"{src.stem}{_SUFFIX}"
    return files


def install() -> str:
    """Load the model compiled if a build of these very sources exists; what was chosen."""
    if os.environ.get("WATCHFLOW_PURE_MODEL", "") not in ("", "0"):
        return "pure Python (WATCHFLOW_PURE_MODEL)"
    build = build_dir()
    files = modules_in(build)
    if not all(f.is_file() for f in files.values()):
        return f"pure Python (no build of these sources: {build})"
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(files))
    return f"compiled with mypyc ({build})"


def compiled() -> bool:
    """True if the model's modules in this process are the compiled ones."""
    from streams.model import codec

    return Path(codec.__file__ or "").suffix != ".py"


def build(quiet: bool = True) -> int:
    """Compile the model into ``build_dir()`` unless it is there; 0 also when it cannot."""
    target = build_dir()
    if all(f.is_file() for f in modules_in(target).values()):
        return 0
    failed = target.with_name(f"{target.name}.failed")  # its log; not retried on every make
    if failed.is_file():
        print(
            f"streams.native: the model runs as pure Python: its build failed ({failed}; "
            "delete it to try again)",
            file=sys.stderr,
        )
        return 0
    if importlib.util.find_spec("mypyc") is None:
        print("streams.native: mypy is not installed; the model stays pure Python", file=sys.stderr)
        return 0
    root = MODEL.parent.parent
    config = root / "pyproject.toml"
    options = ["--config-file", str(config)] if config.is_file() else []
    args = options + [str(p) for p in sources()]
    setup = (
        "import sys\n"
        "from setuptools import setup\n"
        "from mypyc.build import mypycify\n"
        "setup(\n"
        "    name='watchflow-model',\n"
        f"    ext_modules=mypycify({args!r}, group_name={GROUP!r}, opt_level='3'),\n"
        "    script_args=['build_ext', '--build-lib', sys.argv[1], '--build-temp', 'tmp'],\n"
        ")\n"
    )
    with tempfile.TemporaryDirectory(prefix="watchflow-native-") as tmp:
        Path(tmp, "setup.py").write_text(setup)
        out = Path(tmp, "out")
        print(f"streams.native: compiling the model with mypyc into {target} ...", file=sys.stderr)
        done = subprocess.run(
            [sys.executable, "setup.py", str(out)],
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            check=False,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        if done.returncode != 0:
            failed.write_text(done.stdout or "(its output is above)\n")
            msg = "streams.native: the build failed; the model runs as pure Python"
            print(f"{msg} (log: {failed})", file=sys.stderr)
            return 0
        staged = Path(tempfile.mkdtemp(prefix=".staged-", dir=target.parent))
        for file in modules_in(out).values():
            dest = staged / file.relative_to(out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dest)
        try:
            staged.rename(target)  # whole or not at all; a concurrent build may have won
        except OSError:
            shutil.rmtree(staged, ignore_errors=True)
    return 0


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["build"] and set(argv[1:]) <= {"--verbose"}:
        return build(quiet="--verbose" not in argv)
    if list(argv) == ["status"]:
        print(install())
        return 0
    print("usage: python -m streams.native build [--verbose] | status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
