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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from consumer.cli_errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    OneLineParser,
    finite_float,
    guarded,
    http_url,
    non_negative_int,
    readable_file,
)

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
    check = commands.add_parser(
        "check-config", help="validate a settings file and print it with secrets masked"
    )
    check.add_argument("config", type=Path)
    demo = commands.add_parser("demo", help="the whole job on the embedded stack, with a summary")
    demo.add_argument("--config", type=readable_file, default=Path("config/example.yaml"))
    demo.add_argument("--orders", type=non_negative_int, default=200)
    demo.add_argument("--leads", type=non_negative_int, default=60)
    demo.add_argument("--seed", type=int, default=7)
    _add_dlq(commands)
    _add_preview(commands)
    commands.add_parser(
        "emulator",
        help="serve the CAPI emulator (a test double of Meta)",
        description="Its own options follow: --port N [--host H] [--pixels-file FILE] [--light]",
    )
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
    preview.add_argument("--config", type=Path, default=Path("config/example.yaml"))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run one command. Every failure is one stderr line and a non-zero exit
    (``cli_errors.guarded``); the emulator's own options pass through to it unparsed."""
    parser = _parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if rest and args.command != "emulator":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    status = EXIT_USAGE if args.command == "check-config" else EXIT_FAILURE
    return guarded(
        lambda: _dispatch(args),
        prog="capi-consumer",
        config_exit=status,
        log_crash=args.command == "run",
    )


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "run":
        return _run(args.config)
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
    from consumer.devstack.emulator import main as emulator_main

    return emulator_main(args.rest)


def _check_config(path: Path) -> int:
    from consumer.settings import load_settings, masked

    settings = load_settings(path)
    print(json.dumps(masked(settings), indent=2, sort_keys=True))
    return 0


def _run(path: Path) -> int:
    from consumer.app import run_consumer
    from consumer.logs import configure_logging
    from consumer.settings import load_settings

    settings = load_settings(path)
    configure_logging(settings.observability.log_format, settings.observability.log_level)
    gc.freeze()  # what startup built (modules, settings) is never scanned again
    gc.set_threshold(*_RUN_GC_THRESHOLDS)

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_consumer(settings, stop=stop)

    asyncio.run(_serve())
    return 0
