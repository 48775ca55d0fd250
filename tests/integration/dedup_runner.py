"""A consumer as its own OS process, for the rebalance test: ``python -m tests.integration.dedup_runner OUT``.

Reads config/example.yaml plus ``CAPI_*`` environment overrides, runs ``run_consumer`` until
SIGTERM, then writes its RunStats summary (with duplicates per event) as JSON to ``OUT``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from consumer.app import run_consumer
from consumer.logs import configure_logging
from consumer.settings import load_settings
from tests.integration.dedup_support import CONFIG


async def _main() -> dict[str, Any]:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    stats = await run_consumer(load_settings(CONFIG), stop=stop)
    summary = stats.summary()
    summary["duplicates"] = sum(stats.duplicates_per_event.values())
    return summary


if __name__ == "__main__":
    configure_logging("json", "info")
    Path(sys.argv[1]).write_text(json.dumps(asyncio.run(_main())))
