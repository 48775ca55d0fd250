"""``python -m consumer`` is the ``capi-consumer`` command."""

from consumer.cli import main

raise SystemExit(main())
