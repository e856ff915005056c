"""Tiered look-back: which stretch of the past a sync run re-reads, so a run costs what changed.

Razorpay has no "updated since" filter, so changes to older records are found by re-reading. Each tier
is a look-back and how often it is due (`SYNC_LOOKBACK_TIERS`, e.g. ``30m@run,full@1d``: the last 30
minutes on every run, each entity's whole declared look-back once a day). A run re-reads the deepest
tier that is due; what the webhooks named as changed since the last run is fetched by id
(`sync.pull`). When each tier last ran is kept as a checkpoint row named ``lookback:<tier>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from data.sync_state import read_checkpoint

__all__ = ["LookbackTier", "due_tier", "parse_tiers", "tier_checkpoint"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION = re.compile(r"^(\d+)([smhd])$")


@dataclass(frozen=True)
class LookbackTier:
    # None: each entity's own declared look-back (sync.entities), the "full" pass.
    lookback: timedelta | None
    # How long after its last run the tier is due again; zero: every run.
    every: timedelta

    @property
    def label(self) -> str:
        depth = "full" if self.lookback is None else _format(self.lookback)
        return f"{depth}@{'run' if not self.every else _format(self.every)}"

    def for_entity(self, declared: timedelta) -> timedelta:
        return declared if self.lookback is None else min(declared, self.lookback)

    @property
    def depth(self) -> timedelta:
        return timedelta.max if self.lookback is None else self.lookback


def _parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 30m, 6h or 3d, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _format(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_tiers(text: str) -> tuple[LookbackTier, ...]:
    """``<look-back>@<every>`` items, comma-separated: look-back a duration or ``full``, every a
    duration or ``run``. Empty: no tiers (every run re-reads each entity's full look-back)."""
    tiers: list[LookbackTier] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        depth, at, every = item.partition("@")
        if not at:
            raise ValueError(f"a look-back tier is <look-back>@<every>, got {item!r}")
        lookback = None if depth.strip() == "full" else _parse_duration(depth.strip())
        interval = timedelta(0) if every.strip() == "run" else _parse_duration(every.strip())
        tiers.append(LookbackTier(lookback, interval))
    if tiers and not any(t.lookback is None for t in tiers):
        # Without a full pass, a change older than every tier that no webhook named is never read.
        raise ValueError("the look-back tiers need a full tier (full@<every>)")
    if tiers and not any(not t.every for t in tiers):
        raise ValueError("the look-back tiers need one read on every run (<look-back>@run)")
    return tuple(sorted(tiers, key=lambda t: t.depth))


def tier_checkpoint(tier: LookbackTier) -> str:
    return f"lookback:{tier.label}"


def due_tier(conn: Connection, tiers: Sequence[LookbackTier], until: datetime) -> LookbackTier:
    """The deepest tier due at `until`: never run, or last run `every` or longer before it."""
    due = tiers[0]
    for tier in tiers:  # shallowest first (parse_tiers sorts them)
        last = read_checkpoint(conn, tier_checkpoint(tier))
        if not tier.every or last is None or until - last >= tier.every:
            due = tier
    return due
