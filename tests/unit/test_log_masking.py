"""Log lines never carry the credentials of a URL, whatever code put the URL in them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from consumer.logs import configure_logging, mask_url_userinfo


@pytest.fixture(name="json_logs")
def fixture_json_logs() -> Iterator[None]:
    """JSON logging for one test, structlog's defaults restored after."""
    configure_logging("json", "info", cache=False)
    yield
    structlog.reset_defaults()


def test_processor_masks_userinfo_in_string_values() -> None:
    """Each string value with a URL loses its user:password@; other values are untouched."""
    event = {"event": "x", "error": "cannot reach redis://:pw@redis:6379/0", "count": 3}

    assert {"event": "x", "error": "cannot reach redis://***@redis:6379/0", "count": 3} == (
        mask_url_userinfo(None, "error", dict(event))
    )


@pytest.mark.usefixtures("json_logs")
def test_configured_logging_masks_urls(capsys: pytest.CaptureFixture[str]) -> None:
    """A line logged through the configured pipeline shows the URL without its password."""
    structlog.get_logger("t").error("infrastructure.unavailable", error="http://u:hunter2@sr:8081")

    err = capsys.readouterr().err

    assert ("hunter2" in err, "http://***@sr:8081" in err) == (False, True)
