"""The pure core: decode, map, normalize, validate, batch, offsets, retry policy, Graph error
classification and the dedup rules and table.

Nothing in this package does I/O: no Kafka, no HTTP, no asyncio, no files. The shells around it
(``consumer.source``, ``consumer.sender``, ``consumer.dlq``, the dedup backends, the health server)
do the I/O and call in here. This package is also the unit that is compiled with mypyc when the
project is installed (see ``docs/benchmarks.md``).
"""
