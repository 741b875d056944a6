"""Cron expressions with time zones, through croniter (parsing, next firings, DST).

croniter reads 5 fields (minute hour day month weekday), a 6th as *seconds* (``* * * * *
*/2``: every 2 s) and a 7th as the year. Every time here is an aware ``datetime``; slots are
stored as UTC instants, ``2026-11-27T03:00:00Z``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidInput

CATCHUP = ("coalesce", "skip")
MAX_SLOTS = 100_000  # missed slots counted at most (a long downtime of a per-second cron)
HELP = (
    "5 fields: minute hour day-of-month month day-of-week (e.g. '0 3 * * 1'); a 6th field "
    "is seconds ('* * * * * */10'), a 7th the year"
)


def utc(when: datetime) -> datetime:
    return when.astimezone(timezone.utc)


def slot_text(when: datetime) -> str:
    """The stored form of a slot: its UTC instant to the second."""
    return utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """A stored slot or timestamp back to an aware UTC ``datetime``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def zone(name: str) -> Any:
    """The ``zoneinfo`` zone ``name`` (:class:`InvalidInput` naming it if unknown)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("--timezone: a time zone name is required, e.g. UTC or Europe/Paris")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"--timezone {name!r}: unknown time zone (use an IANA name such as UTC, "
            "Europe/Paris or America/New_York)"
        ) from None


@dataclass(frozen=True)
class Cron:
    """A validated cron expression in a time zone."""

    expr: str
    timezone: str

    def _iter(self, start: datetime) -> Any:
        from croniter import croniter

        return croniter(self.expr, start.astimezone(zone(self.timezone)))

    def next_after(self, when: datetime) -> datetime:
        """The first firing strictly after ``when`` (UTC)."""
        return utc(self._iter(when).get_next(datetime))

    def firings(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` firings after ``after``, in the schedule's time zone."""
        it = self._iter(after)
        return [it.get_next(datetime) for _ in range(count)]

    def slots(self, start: datetime, end: datetime) -> tuple[list[datetime], int]:
        """Firings in ``[start, end]``: the first few and the last ones (at most 3 each)
        and how many there are (counted up to :data:`MAX_SLOTS`)."""
        from datetime import timedelta

        it = self._iter(start - timedelta(microseconds=1))
        head: list[datetime] = []
        tail: list[datetime] = []
        count = 0
        while count < MAX_SLOTS:
            slot = utc(it.get_next(datetime))
            if slot > end:
                break
            count += 1
            if len(head) < 3:
                head.append(slot)
            tail = [*tail[-2:], slot]
        return sorted({*head, *tail}), count


def parse_cron(expr: str, timezone_name: str = "UTC") -> Cron:
    """Check ``expr`` and the time zone; :class:`InvalidInput` with one line otherwise."""
    from croniter import croniter

    zone(timezone_name)
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput(f"--cron: a cron expression is required ({HELP})")
    text = " ".join(expr.split())
    try:
        valid = croniter.is_valid(text)
    except Exception:  # noqa: BLE001 - croniter's own errors for odd input
        valid = False
    if not valid or len(text.split()) not in (5, 6, 7):
        raise InvalidInput(f"--cron {expr!r}: not a valid cron expression ({HELP})")
    return Cron(text, timezone_name.strip())


def check_catchup(value: str) -> str:
    if value not in CATCHUP:
        raise InvalidInput(f"--catchup {value!r}: use coalesce or skip")
    return value
