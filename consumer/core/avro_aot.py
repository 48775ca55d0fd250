"""Decoders of the shipped schemas (``schemas/*.avsc``), generated ahead of time and compiled.

``scripts/generate_decoders.py`` writes the same functions :mod:`avro_decoder` would generate
and ``exec`` at run time into ``avro_decoders_generated``, a module of the core, so mypyc compiles
them with the rest. A writer schema equal to one of them (looked up by :func:`schema_key`, once
per schema pair) is decoded by the compiled functions; any other schema keeps the run-time path.
The generated module is checked in, and a test requires it to equal a fresh generation.
"""

from __future__ import annotations

import json
from typing import Any

from consumer.core.avro_decoder import Decoder, entry_decoder
from consumer.core.avro_decoders_generated import ENTRIES
from consumer.core.digest import sha256_hex

__all__ = ["schema_key", "shipped_decoder"]


def schema_key(schema: Any) -> str:
    """A digest of a parsed schema, logical types and names included (its canonical form
    would drop the logical types, which change the decoded values)."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=repr)
    return sha256_hex(text)


def shipped_decoder(schema: Any) -> Decoder | None:
    """The ahead-of-time decoder of ``schema`` if it is one of the shipped schemas, else None."""
    entry = ENTRIES.get(schema_key(schema))
    return None if entry is None else entry_decoder(entry)
