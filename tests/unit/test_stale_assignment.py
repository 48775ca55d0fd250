"""The stale empty assignment rule (pure): when to check, heal once, and spares stay ready."""

from __future__ import annotations

from consumer.core.stale_assignment import StaleAssignment


class TestStaleAssignment:
    def test_not_due_before_the_bound(self) -> None:
        """Zero partitions for less than the bound is nothing yet."""
        stale = StaleAssignment(bound_s=60.0)
        stale.observe(0.0, 0, 1)

        assert (False, True) == (stale.due(59.0), stale.due(60.0))

    def test_partitions_end_the_episode(self) -> None:
        """Any partitions reset the clock."""
        stale = StaleAssignment(bound_s=60.0)
        stale.observe(0.0, 0, 1)
        stale.observe(30.0, 2, 2)
        stale.observe(40.0, 0, 3)

        assert (False, True) == (stale.due(99.0), stale.due(100.0))

    def test_unready_while_the_heal_is_under_way(self) -> None:
        """After a heal and until the next assignment, the replica is unready with the age."""
        stale = StaleAssignment(bound_s=60.0)
        stale.observe(0.0, 0, 1)
        stale.healed(generation=1, partitions=3)
        unready = stale.unready_for(61.0)
        stale.observe(62.0, 3, 2)

        assert (61.0, None, False) == (unready, stale.unready_for(63.0), stale.due(200.0))

    def test_an_empty_fresh_assignment_makes_an_idle_spare(self) -> None:
        """The group assigned again and gave us nothing: a spare, ready, never healed again."""
        stale = StaleAssignment(bound_s=60.0)
        stale.observe(0.0, 0, 1)
        stale.healed(generation=1, partitions=3)
        stale.observe(61.0, 0, 2)

        assert (None, False, True) == (stale.unready_for(62.0), stale.due(1000.0), stale.spare)

    def test_no_partitions_to_have_postpones_the_next_check(self) -> None:
        """Topics missing or empty: check again one bound later."""
        stale = StaleAssignment(bound_s=60.0)
        stale.observe(0.0, 0, 1)
        stale.no_partitions_to_have(60.0)

        assert (False, True) == (stale.due(119.0), stale.due(120.0))
