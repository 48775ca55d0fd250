"""The build of consumer/core: compiled unless CONSUMER_CORE_PURE=1, never stale, pure on demand."""

from __future__ import annotations

import fnmatch
import importlib.machinery
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import consumer.core.mapping
from consumer.build_info import (
    COMPILED_DIGEST_FILE,
    CORE_DIR,
    StaleBuildError,
    compiled_modules,
    core_sources,
    native_sources,
    pure_requested,
    select_core_build,
    source_digest,
)

ROOT = Path(__file__).resolve().parents[2]
_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def test_every_core_module_runs_compiled_unless_pure_is_asked_for() -> None:
    """``make test`` runs on the compiled build: every core module (by glob) is an extension
    module, up to date; with CONSUMER_CORE_PURE=1 the sources run instead."""
    names = sorted(path.stem for path in [*core_sources(), *native_sources()])
    if pure_requested():
        assert consumer.core.mapping.__file__ is not None
        assert consumer.core.mapping.__file__.endswith("mapping.py")
    else:
        assert names == compiled_modules()
        assert consumer.core.mapping.__file__ is not None
        assert consumer.core.mapping.__file__.endswith(_SUFFIX)
        assert source_digest() == (CORE_DIR / COMPILED_DIGEST_FILE).read_text().strip()


def _fake_build(tmp_path: Path) -> Path:
    core = tmp_path / "core"
    shutil.copytree(CORE_DIR, core, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    (core / f"mapping{_SUFFIX}").write_bytes(b"")
    (core / COMPILED_DIGEST_FILE).write_text(source_digest(core) + "\n")
    return core


def test_a_compiled_module_older_than_its_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a source changes after the build, importing the core fails loudly (never old code)."""
    monkeypatch.delenv("CONSUMER_CORE_PURE", raising=False)
    core = _fake_build(tmp_path)
    select_core_build(core)  # as built: fine
    (core / "mapping.py").write_text((core / "mapping.py").read_text() + "\n# edited\n")

    with pytest.raises(StaleBuildError, match="make bootstrap"):
        select_core_build(core)


def test_an_edited_c_extension_source_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-written C (``_digest.c`` and the others) is part of the digest: an edit counts."""
    monkeypatch.delenv("CONSUMER_CORE_PURE", raising=False)
    core = _fake_build(tmp_path)
    assert [path.name for path in native_sources(core)] == ["_digest.c", "_phone.c", "_table.c"]
    (core / "_table.c").write_text((core / "_table.c").read_text() + "\n/* edited */\n")

    with pytest.raises(StaleBuildError, match="make bootstrap"):
        select_core_build(core)


def test_a_compiled_module_without_a_digest_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build interrupted before it wrote its digest (or a pure install over a compiled one)
    leaves extension modules that cannot be trusted: refused."""
    monkeypatch.delenv("CONSUMER_CORE_PURE", raising=False)
    core = _fake_build(tmp_path)
    (core / COMPILED_DIGEST_FILE).unlink()

    with pytest.raises(StaleBuildError):
        select_core_build(core)


def test_a_new_core_module_changes_the_digest(tmp_path: Path) -> None:
    """The digest covers every module of the glob, so a new module forces a rebuild."""
    core = _fake_build(tmp_path)
    before = source_digest(core)
    (core / "new_step.py").write_text("X = 1\n")

    assert before != source_digest(core)


def test_pure_at_import_time_runs_the_sources_beside_compiled_modules() -> None:
    """CONSUMER_CORE_PURE=1 when importing: every core module comes from its .py file."""
    code = (
        "import importlib, consumer.build_info as b\n"
        "mods = [importlib.import_module('consumer.core.' + p.stem) for p in b.core_sources()]\n"
        "print(sorted({m.__file__.rsplit('.', 1)[1] for m in mods}))\n"
    )
    env = {**os.environ, "CONSUMER_CORE_PURE": "1", "PYTHONPATH": str(ROOT)}

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert "['py']\n" == out.stdout


def test_an_installed_package_carries_every_source_its_digest_reads() -> None:
    """A wheel (the Docker image's install) recomputes the digest from the files installed:
    a C source missing there made every import a StaleBuildError (``core/*.c`` package data)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["consumer"]
    package = ROOT / "consumer"
    missing = [
        path.relative_to(package).as_posix()
        for path in native_sources()
        if not any(fnmatch.fnmatch(path.relative_to(package).as_posix(), p) for p in patterns)
    ]

    assert ([], True) == (missing, bool(native_sources()))
