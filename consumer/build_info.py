"""Which build of ``consumer.core`` is installed, and whether it matches the sources.

The pure core (``consumer/core/*.py``, every module but ``__init__``) is compiled with mypyc when
the project is installed (``setup.py``), unless ``CONSUMER_CORE_PURE=1`` is set at install time.
``CONSUMER_CORE_PURE=1`` at import time runs the Python sources even where compiled modules sit
beside them (the property and differential tests run both builds in one checkout).

A compiled module next to newer source would run old code silently, so the build writes the
digest of the sources it compiled (``COMPILED_DIGEST_FILE``) and ``consumer.core`` refuses to
import compiled modules whose digest no longer matches the sources (``make bootstrap`` rebuilds).
This module is plain Python on purpose: ``setup.py`` and ``consumer/core/__init__.py`` use it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = [
    "COMPILED_DIGEST_FILE",
    "CORE_DIR",
    "PURE_ENV",
    "PureCoreFinder",
    "StaleBuildError",
    "compiled_modules",
    "core_sources",
    "native_sources",
    "pure_requested",
    "select_core_build",
    "source_digest",
]

PURE_ENV = "CONSUMER_CORE_PURE"  # not CAPI_*: that prefix is the settings' environment namespace
CORE_DIR = Path(__file__).resolve().parent / "core"
COMPILED_DIGEST_FILE = "compiled.sha256"


def pure_requested() -> bool:
    """True when ``CONSUMER_CORE_PURE=1`` asks for the Python sources of the core."""
    return os.environ.get(PURE_ENV, "") == "1"


def core_sources(core: Path = CORE_DIR) -> list[Path]:
    """The modules that get compiled: every ``consumer/core/*.py`` but the package's ``__init__``."""
    return sorted(path for path in core.glob("*.py") if path.name != "__init__.py")


def native_sources(core: Path = CORE_DIR) -> list[Path]:
    """The core's hand-written C extensions (``_digest.c``, ``_phone.c``, ``_table.c``), built beside the mypyc modules."""
    return sorted(core.glob("*.c"))


def source_digest(core: Path = CORE_DIR) -> str:
    """SHA-256 over the compiled sources' names and contents (Python, then C), in name order."""
    digest = hashlib.sha256()
    for path in [*core_sources(core), *native_sources(core)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def compiled_modules(core: Path = CORE_DIR) -> list[str]:
    """Names of the core modules present as extension modules (compiled) in ``core``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return sorted(
        path.name.split(".", 1)[0] for path in core.iterdir() if path.name.endswith(suffixes)
    )


class PureCoreFinder(importlib.abc.MetaPathFinder):
    """Finds ``consumer.core.<module>`` in its ``.py`` source, ahead of a compiled module."""

    def __init__(self, core: Path = CORE_DIR) -> None:
        self._core = core

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        source = self._core / f"{name}.py"
        if package != "consumer.core" or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


class StaleBuildError(ImportError):
    """The compiled core does not match its sources: rebuild (``make bootstrap``) or run
    the sources (``CONSUMER_CORE_PURE=1``)."""


def select_core_build(core: Path = CORE_DIR) -> None:
    """Called by ``consumer/core/__init__.py`` before any core module is imported.

    With ``CONSUMER_CORE_PURE=1`` the sources run; otherwise compiled modules, if any, must
    have been built from exactly these sources (else ``StaleBuildError``, never old code).
    """
    if pure_requested():
        if not any(isinstance(finder, PureCoreFinder) for finder in sys.meta_path):
            sys.meta_path.insert(0, PureCoreFinder(core))
        return
    if not compiled_modules(core):
        return  # a pure install: nothing compiled can shadow the sources
    stamp = core / COMPILED_DIGEST_FILE
    built = stamp.read_text().strip() if stamp.is_file() else "(none)"
    if built != source_digest(core):
        raise StaleBuildError(
            f"the compiled modules in {core} were built from other sources than the ones there "
            f"now (digest {built[:12]}): run `make bootstrap` to rebuild them, or set "
            f"{PURE_ENV}=1 to run the sources"
        )
