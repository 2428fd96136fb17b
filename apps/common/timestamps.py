"""RFC 3339 timestamp parsing shared by report validation, the API and the dashboard."""

from __future__ import annotations

from datetime import datetime, timezone

MIN_YEAR, MAX_YEAR = 1970, 2999


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (Z or offset, up to nanoseconds) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    try:
        parsed = parsed.astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError("timestamp out of range") from exc
    # A dead RTC battery gives 1970 and a typo can give 2260: both are kept (clock skew is
    # corrected on ingest), but nothing outside what a clock can plausibly say.
    if not (MIN_YEAR <= parsed.year <= MAX_YEAR):
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return parsed
