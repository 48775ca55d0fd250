"""The core's hand-written C extensions (``consumer/core/_*.c``): loaded in the compiled build only.

``setup.py`` builds each ``_<name>.c`` beside the mypyc modules. The pure build
(``CONSUMER_CORE_PURE=1``, or a pure install) runs the Python code each one replaces, and the
property tests hold the two to the same results.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from consumer.build_info import compiled_modules, pure_requested

__all__ = ["load"]


def load(name: str) -> ModuleType | None:
    """``consumer.core.<name>`` in a compiled build (an error if it is missing there), else None."""
    if pure_requested() or not compiled_modules():
        return None
    return importlib.import_module(f"consumer.core.{name}")
