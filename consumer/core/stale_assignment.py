"""Pure rule for a stale empty assignment: zero partitions for too long while there are some.

A replica with no partitions is normal when the group has more members than partitions (an idle
spare). It is a fault when the subscribed topics do have partitions and the group's assignment
is stale: after a broker lost its topics and they were re-created, librdkafka can sit at ``[]``
for many minutes. The rule:

1. Zero partitions for ``bound_s`` (counted from when the assignment became empty) makes the
   replica due for a check of the subscribed topics' partition count.
2. If they have partitions, the replica is unready (``no_partitions``) and heals once: it
   re-subscribes, which makes the group assign again.
3. If that fresh assignment is empty too, the group gave every partition to other members:
   this replica is an idle spare, ready, and not healed again until it has had partitions
   (so spares never cause a rebalance loop). Any partitions end the episode.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StaleAssignment"]


@dataclass(slots=True)
class StaleAssignment:
    """Feed ``observe`` every tick; ask ``due`` before checking topics; ``healed`` after."""

    bound_s: float
    empty_since: float | None = None
    healed_at_generation: int | None = None  # set while a heal waits for its fresh assignment
    spare: bool = False
    partitions: int = 0  # of the subscribed topics, at the last check

    def observe(self, now: float, assigned: int, generation: int) -> None:
        """Record the current assignment size and how many assignments arrived so far."""
        if assigned:
            self.empty_since, self.healed_at_generation, self.spare = None, None, False
            return
        if self.empty_since is None:
            self.empty_since = now
        if self.healed_at_generation is not None and generation > self.healed_at_generation:
            self.healed_at_generation, self.spare = None, True

    def due(self, now: float) -> bool:
        """True when the topics should be checked (and the replica healed if they have any)."""
        return (
            not self.spare
            and self.healed_at_generation is None
            and self.empty_since is not None
            and now - self.empty_since >= self.bound_s
        )

    def no_partitions_to_have(self, now: float) -> None:
        """The check found no partitions (topics missing or empty): check again a bound later."""
        self.empty_since = now

    def healed(self, generation: int, partitions: int) -> None:
        """A re-subscribe was asked for while the topics had ``partitions``."""
        self.healed_at_generation, self.partitions = generation, partitions

    def unready_for(self, now: float) -> float | None:
        """Seconds with zero partitions while a heal is under way; None when not a fault."""
        if self.healed_at_generation is None or self.empty_since is None:
            return None
        return now - self.empty_since
