"""The ``capi-consumer`` command line: run | check-config | preview | dlq | demo | emulator.

Fatal problems print one line naming the problem and exit non-zero; no tracebacks for user errors.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from consumer.cli_errors import (
    DEFAULT_CONFIG,
    EXIT_FAILURE,
    EXIT_USAGE,
    OneLineParser,
    config_file,
    finite_float,
    guarded,
    http_url,
    non_negative_int,
    readable_config_file,
)
from consumer.devstack.emulator_args import add_emulator_arguments

__all__ = ["main"]

# ``run`` allocates hundreds of objects per record, nearly all freed by reference counting (few
# cycles). CPython's default thresholds (700, 10, 10) then run a collection every few records and
# full ones over every in-flight event: ~8% of the consumer's CPU (docs/benchmarks.md, e2e).
_RUN_GC_THRESHOLDS = (50_000, 20, 20)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="capi-consumer", description="Kafka order/lead events to Meta's Conversions API."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="consume until SIGTERM/SIGINT")
    run.add_argument("--config", type=Path, required=True, help="YAML settings file")
    run.add_argument(
        "--allow-memory-dedup",
        action="store_true",
        help="development only: accept dedup.backend memory (forgets the window on restart)",
    )
    check = commands.add_parser(
        "check-config", help="validate a settings file and print it with secrets masked"
    )
    check.add_argument("config", type=Path)
    demo = commands.add_parser("demo", help="the whole job on the embedded stack, with a summary")
    demo.add_argument("--config", type=readable_config_file, default=DEFAULT_CONFIG)
    demo.add_argument("--orders", type=non_negative_int, default=200)
    demo.add_argument("--leads", type=non_negative_int, default=60)
    demo.add_argument("--seed", type=int, default=7)
    _add_dlq(commands)
    _add_preview(commands)
    emulator = commands.add_parser(
        "emulator", help="serve the CAPI emulator (a test double of Meta)"
    )
    add_emulator_arguments(emulator)
    return parser


def _add_dlq(commands: Any) -> None:
    from consumer.dlq_cli import add_dlq_commands

    add_dlq_commands(commands)


def _add_preview(commands: Any) -> None:
    preview = commands.add_parser(
        "preview",
        help="print the exact CAPI event, validation and EMQ estimate for each record; sends nothing",
    )
    preview.add_argument("--type", choices=("order", "lead"), required=True, dest="event_type")
    preview.add_argument("file", type=Path, nargs="?", help="input file (default: stdin)")
    preview.add_argument("--config", type=config_file, default=DEFAULT_CONFIG)
    preview.add_argument(
        "--binary", action="store_true", help="Confluent-framed Avro values back to back"
    )
    preview.add_argument(
        "--registry",
        metavar="URL",
        type=http_url,
        help="writer schemas for --binary (default: ours)",
    )
    preview.add_argument("--now", type=finite_float, help="unix seconds to validate against")


def main(argv: Sequence[str] | None = None, *, wall_clock: Callable[[], float] = time.time) -> int:
    """Parse and run one command; ``wall_clock`` dates the Graph API version check of
    ``check-config``. Every failure is one stderr line and a non-zero exit (``cli_errors.guarded``)."""
    args = _parser().parse_args(argv)
    status = EXIT_USAGE if args.command == "check-config" else EXIT_FAILURE
    return guarded(
        lambda: _dispatch(args, wall_clock),
        prog="capi-consumer",
        config_exit=status,
        log_crash=args.command == "run",
    )


def _dispatch(args: argparse.Namespace, wall_clock: Callable[[], float]) -> int:
    if args.command == "check-config":
        return _check_config(args.config, wall_clock)
    if args.command == "run":
        return _run(args.config, allow_memory_dedup=args.allow_memory_dedup)
    if args.command == "dlq":
        from consumer.dlq_cli import run_dlq

        return run_dlq(args)
    if args.command == "preview":
        from consumer.preview import run_preview

        return run_preview(
            args.config,
            args.event_type,
            args.file,
            binary=args.binary,
            registry_url=args.registry,
            now=args.now,
        )
    if args.command == "demo":
        from consumer.devstack.demo import run_demo

        return run_demo(args.config, orders=args.orders, leads=args.leads, seed=args.seed)
    from consumer.devstack.emulator import serve as serve_emulator

    return serve_emulator(args)


def _check_config(path: Path, wall_clock: Callable[[], float]) -> int:
    from consumer.settings import config_warnings, load_settings, masked
    from consumer.version_check import check_pixel_versions, today_utc

    settings = load_settings(path)
    notes = check_pixel_versions(settings.pixels, today_utc(wall_clock))  # expired: ConfigError
    for note in notes:
        print(f"capi-consumer: {note.level}: {note.text}", file=sys.stderr)
    print(json.dumps(masked(settings), indent=2, sort_keys=True))
    for warning in config_warnings(settings):
        print(f"capi-consumer: warning: {warning}", file=sys.stderr)
    return 0


def _run(path: Path, *, allow_memory_dedup: bool = False) -> int:
    from consumer.app import check_dedup_backend, run_consumer
    from consumer.logs import configure_logging
    from consumer.settings import load_settings

    settings = load_settings(path)
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    check_dedup_backend(settings, allow_memory=allow_memory_dedup)
    gc.freeze()  # what startup built (modules, settings) is never scanned again
    gc.set_threshold(*_RUN_GC_THRESHOLDS)

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_consumer(settings, stop=stop, require_health=True)

    asyncio.run(_serve())
    return 0
