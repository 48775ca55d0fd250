"""capi-consumer: Kafka conversion events to Meta's Conversions API."""

__all__ = ["__version__"]

__version__ = "0.1.0"
