"""Build hook: compile the pure core (``consumer/core/*.py``) with mypyc.

Everything else about the project is in ``pyproject.toml``. Every module in ``consumer/core/``
but its ``__init__`` is compiled (a glob, so new modules are too), as one mypyc group whose
shared library is ``consumer/core__mypyc*.so``. ``CONSUMER_CORE_PURE=1`` at install time builds
the pure-Python package instead. The core's hand-written C extensions (``consumer/core/*.c``:
``_digest.c``, ``_phone.c``, ``_table.c``) are built with it. The digest of the compiled sources (Python and
C) is written next to them (``consumer/core/compiled.sha256``) so that ``consumer.core`` refuses a stale build.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from consumer.build_info import (
    COMPILED_DIGEST_FILE,
    CORE_DIR,
    core_sources,
    native_sources,
    pure_requested,
    source_digest,
)

_MYPY_CONFIG = """[mypy]
python_version = 3.11
ignore_missing_imports = True
follow_imports = silent
"""


class _BuildExt(build_ext):
    """build_ext that writes the digest of the compiled sources once the modules are built."""

    digest = ""

    def run(self) -> None:
        stamp = CORE_DIR / COMPILED_DIGEST_FILE
        stamp.unlink(missing_ok=True)  # no stamp until the build succeeded: never a stale match
        super().run()
        if not self.digest:
            return
        target = stamp if self.inplace else os.path.join(self.build_lib, *_STAMP_PARTS)
        with open(target, "w") as file:
            file.write(self.digest + "\n")


_STAMP_PARTS = ("consumer", "core", COMPILED_DIGEST_FILE)


def _extensions() -> list[object]:
    (CORE_DIR / COMPILED_DIGEST_FILE).unlink(missing_ok=True)
    if pure_requested():
        return []
    from mypyc.build import mypycify

    root = os.path.dirname(os.path.abspath(__file__))
    _BuildExt.digest = source_digest()  # of the sources mypyc reads now, not after an edit
    sources = [os.path.relpath(path, root) for path in core_sources()]
    # Its own mypy settings: the build environment may lack the dependencies and the pydantic
    # plugin (types from a missing package are Any; ``make lint`` runs the strict check).
    config = os.path.join(tempfile.mkdtemp(prefix="capi-mypyc-"), "mypy.ini")
    with open(config, "w") as file:
        file.write(_MYPY_CONFIG)
    compiled = mypycify(
        ["--config-file", config, *sources], opt_level="3", group_name="consumer.core"
    )
    return [*compiled, *(_native(path, root) for path in native_sources())]


def _native(path: Path, root: str) -> Extension:
    """``consumer/core/_<name>.c`` as ``consumer.core._<name>``, linked to OpenSSL's libcrypto
    (the library hashlib runs; its headers come from libssl-dev, which bootstrap installs)."""
    return Extension(
        f"consumer.core.{path.stem}",
        [os.path.relpath(path, root)],
        libraries=["crypto"],
        extra_compile_args=["-O2"],
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": _BuildExt})
