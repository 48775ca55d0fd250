"""Pure routing of test records (``is_test``) by their pixel's ``test_traffic`` policy.

Events sent with a ``test_event_code`` are not dropped by Meta: they feed Events Manager,
targeting and measurement (capi.md §1.4), so QA orders sent to the production pixel inflate its
revenue. Per pixel, a test record is therefore dropped (the default), sent to a separate test
dataset, or (an explicit opt-in) sent to the production pixel with its test_event_code.
"""

from __future__ import annotations

from typing import NamedTuple

from consumer.errors import MappingError
from consumer.settings import SeparateDataset, Settings

__all__ = ["TEST_TRAFFIC_REASON", "Route", "describe_policy", "route_test_record"]

TEST_TRAFFIC_REASON = "test_traffic"  # the ``filtered`` reason of a dropped test record


class Route(NamedTuple):
    """Where a test record goes: a pixel and the test_event_code it is sent with (or None)."""

    pixel_id: str
    test_event_code: str | None


def route_test_record(pixel_id: str, settings: Settings) -> Route | None:
    """The route of a test record for ``pixel_id``; None when its policy drops it."""
    policy = settings.pixels[pixel_id].test_traffic
    if policy == "drop":
        return None
    if isinstance(policy, SeparateDataset):
        return Route(policy.pixel, settings.pixels[policy.pixel].test_event_code)
    code = settings.pixels[pixel_id].test_event_code
    if code is None:
        raise MappingError(
            "mapping.no_test_event_code",
            f"test record for pixel {pixel_id}, which has no test_event_code",
        )
    return Route(pixel_id, code)


def describe_policy(pixel_id: str, settings: Settings) -> str:
    """``drop``, ``send_with_code`` or ``pixel:<test dataset id>`` (what ``preview`` shows)."""
    policy = settings.pixels[pixel_id].test_traffic
    return f"pixel:{policy.pixel}" if isinstance(policy, SeparateDataset) else policy
