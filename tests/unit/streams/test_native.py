"""The compiled model is used only for the exact sources it was built from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams import native


def _copy_of_model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(native.MODEL, model, ignore=shutil.ignore_patterns("__pycache__"))
    return model


def test_any_edit_of_a_model_source_changes_the_build_it_needs(tmp_path: Path) -> None:
    model = _copy_of_model(tmp_path)
    before = native.fingerprint(model)
    assert native.fingerprint(model) == before == native.fingerprint(native.MODEL)
    codec = model / "codec.py"
    codec.write_text(codec.read_text() + "\n# an edit\n")
    edited = native.fingerprint(model)
    assert edited != before
    (model / "new_concept.py").write_text("X = 1\n")
    assert native.fingerprint(model) not in (before, edited)


def test_the_package_init_is_not_compiled_since_it_picks_the_build() -> None:
    names = {p.name for p in native.sources()}
    assert "__init__.py" not in names
    assert {"watch_state.py", "codec.py", "video_encoder.py"} <= names


def test_without_a_build_of_these_sources_the_model_is_pure_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHFLOW_NATIVE_DIR", str(tmp_path))
    monkeypatch.delenv("WATCHFLOW_PURE_MODEL", raising=False)
    # A build of other sources (an older version of the model) is there, and ignored.
    stale = tmp_path / f"{sys.implementation.cache_tag}-0000000000000000" / "streams" / "model"
    stale.mkdir(parents=True)
    assert native.install().startswith("pure Python (no build of these sources")


def _loaded_from(env: dict[str, str]) -> str:
    code = "import streams.model.watch_state as m; print(m.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_pure_python_can_be_forced() -> None:
    env = {**os.environ, "WATCHFLOW_PURE_MODEL": "1"}
    assert _loaded_from(env) == str(native.MODEL / "watch_state.py")


@pytest.mark.skipif(
    not native.build_dir().is_dir(), reason="no build here: `python -m streams.native build`"
)
def test_a_build_of_these_sources_is_what_the_model_imports() -> None:
    env = {k: v for k, v in os.environ.items() if k != "WATCHFLOW_PURE_MODEL"}
    path = Path(_loaded_from(env))
    assert path.parent == native.build_dir() / "streams" / "model"
    assert path.name.startswith("watch_state.") and path.suffix == ".so"


def test_a_failed_build_is_not_retried_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a compiler the build fails once, leaves its log, and later commands go on at
    once with the model in pure Python."""
    monkeypatch.setenv("WATCHFLOW_NATIVE_DIR", str(tmp_path))
    log = native.build_dir().with_name(f"{native.build_dir().name}.failed")
    log.write_text("error: command 'gcc' failed\n")
    assert native.build() == 0
    assert "delete it to try again" in capsys.readouterr().err
    assert not native.build_dir().exists()
    assert native.install().startswith("pure Python")
