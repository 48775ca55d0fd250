"""The emulator's command-line options, shared by ``python -m consumer.devstack.emulator`` and
``capi-consumer emulator`` (docker-compose runs the latter), so both accept the same arguments.

Kept apart from :mod:`emulator` so that building the CLI parser does not import aiohttp.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from consumer.cli_errors import port_number
from consumer.devstack.emulator_rules import DEFAULT_FUTURE_TOLERANCE_S

__all__ = ["add_emulator_arguments"]


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """``--port --host --pixels-json|--pixels-file --light --future-tolerance-s``."""
    parser.add_argument("--port", type=port_number, default=0, help="TCP port (0: any free port)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)"
    )
    pixels = parser.add_mutually_exclusive_group()
    pixels.add_argument("--pixels-json", help="pixels as JSON (visible in ps: prefer a file)")
    pixels.add_argument("--pixels-file", type=Path, help="file with the pixels as JSON")
    parser.add_argument("--light", action="store_true", help="auth and counts only (benchmarks)")
    parser.add_argument("--future-tolerance-s", type=float, default=DEFAULT_FUTURE_TOLERANCE_S)
