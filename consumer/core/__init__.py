"""The pure core: decode, map, normalize, validate, batch, offsets, retry policy, Graph error
classification and the dedup rules and table.

Nothing in this package does I/O: no Kafka, no HTTP, no asyncio, no files. The shells around it
(``consumer.source``, ``consumer.sender``, ``consumer.dlq``, the dedup backends, the health server)
do the I/O and call in here. This package is also the unit that is compiled with mypyc when the
project is installed (``setup.py``; see ``consumer.build_info`` and ``docs/benchmarks.md``).
This ``__init__`` stays interpreted: it picks the build before any module of the core loads.
"""

from pathlib import Path

from consumer.build_info import select_core_build

select_core_build(Path(__file__).resolve().parent)
