"""The local Event Match Quality estimate and its per (pixel, event_name) summary in RunStats."""

from __future__ import annotations

import dataclasses

from consumer.core.emq import MAX_SCORE, estimate, tally
from consumer.core.mapping import map_record
from consumer.core.models import CapiEvent
from consumer.stats import RunStats
from tests.fixtures.factories import PIXEL, make_order, make_settings


class TestEstimate:
    def test_rich_event_is_strong(self) -> None:
        """Email, phone, click id, IP, external id and fbp together reach the top of the scale."""
        user_data = dict.fromkeys(
            ("em", "ph", "fbc", "client_ip_address", "external_id", "fbp"), "x"
        )

        assert (MAX_SCORE, False, ()) == (
            estimate(user_data).score,
            estimate(user_data).weak,
            estimate(user_data).missing,
        )

    def test_geo_only_is_weak(self) -> None:
        """Address fields alone score low and name the key identifiers that are missing."""
        result = estimate({"ct": ["h"], "st": ["h"], "zp": ["h"], "country": ["h"]})

        assert (0.9, True) == (result.score, result.weak)
        assert ("em", "ph", "fbc", "external_id", "client_ip_address") == result.missing

    def test_priorities(self) -> None:
        """Email outranks phone, which outranks external_id, which outranks the city (capi.md §8)."""
        scores = [estimate({key: "x"}).score for key in ("em", "ph", "external_id", "ct")]

        assert sorted(scores, reverse=True) == scores

    def test_empty_values_do_not_count(self) -> None:
        """An identifier with an empty value adds nothing."""
        assert 0.0 == estimate({"em": [], "ph": ""}).score


class TestRunStats:
    def test_summary_per_pixel_and_event(self) -> None:
        """observe_mapped keeps count, mean and weak events per (pixel, event_name), and drops."""
        stats = RunStats()
        good = map_record("order", make_order(), make_settings())
        weak = map_record(
            "order",
            make_order(customer={"email": "bad@", "city": "Paris"}, browser=None, channel="PHONE"),
            make_settings(),
        )
        assert isinstance(good, CapiEvent)
        assert isinstance(weak, CapiEvent)

        stats.observe_mapped(good)
        stats.observe_mapped(weak)

        summary = stats.emq[(PIXEL, "Purchase")]
        assert (2, 1) == (summary.count, summary.weak)
        assert {("em", "no_domain"): 1} == dict(stats.user_data_dropped)
        assert {"em.no_domain": 1} == stats.summary()["user_data_dropped"]

    def test_estimates_follow_the_identifiers_present(self) -> None:
        """Scores are remembered per set of identifiers with a value: empty ones never count,
        and each new set gets its own estimate."""
        stats = RunStats()
        base = map_record("order", make_order(), make_settings())
        assert isinstance(base, CapiEvent)
        user_data = base.payload["user_data"]
        variants = [
            user_data,
            {**user_data, "em": []},  # same keys, one empty: scored without email
            {key: value for key, value in user_data.items() if key != "em"},
            {**user_data, "lead_id": 7},
            user_data,
        ]
        for variant in variants:
            stats.observe_mapped(
                dataclasses.replace(base, payload={**base.payload, "user_data": variant})
            )

        summary = stats.emq[(PIXEL, "Purchase")]
        assert round(sum(estimate(v).score for v in variants), 6) == round(summary.total, 6)
        assert sum(estimate(v).weak for v in variants) == summary.weak

    def test_a_batch_counts_as_its_events_one_by_one(self) -> None:
        """A poll batch's tally (``observe_tally``, once per batch) gives the summary of
        observe_mapped per event."""
        settings = make_settings()
        events = [
            map_record("order", make_order(order_id=f"O-{i}", customer=customer), settings)
            for i, customer in enumerate([{}, {"email": "bad@", "city": "Paris"}, {"phone": ""}])
        ]
        one_by_one, batched = RunStats(), RunStats()

        for event in events:
            assert isinstance(event, CapiEvent)
            one_by_one.observe_mapped(event)
        batched.observe_tally(tally([(None, e) for e in events if isinstance(e, CapiEvent)]))

        assert one_by_one.summary() == batched.summary()
