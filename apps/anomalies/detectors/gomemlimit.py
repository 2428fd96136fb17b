"""GOMEMLIMIT exactly as the Go runtime reads it (readGOMEMLIMIT and parseByteCount).

Source: golang/go src/runtime/mgcpacer.go `readGOMEMLIMIT` (`""` and `"off"` mean no limit,
anything else goes to parseByteCount and a failure is `fatal error: malformed GOMEMLIMIT`) and
src/runtime/string.go `parseByteCount` (`^[0-9]+(([KMGT]i)?B)?$`, an int64, no spaces). The
runtime reads GOMEMLIMIT since Go 1.19 (older programs ignore it). The number is parsed with
strconv.ParseInt since Go 1.26, which also takes a leading `+`; the hand-written atoi64 of Go
1.19–1.25 took only `-`. Both accept `-0` (the runtime's own test table says so). Checked
with go1.25.5, go1.26.0 and go1.27.3: `GOMEMLIMIT=+5 go version` aborts on the first only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_INT64 = 2**63 - 1
MAX_UINT64 = 2**64 - 1
FIRST_GO_MINOR = 19  # Go 1.19 added GOMEMLIMIT
PLUS_SIGN_GO_MINOR = 26  # Go 1.26 parses with strconv.ParseInt (a leading '+' is fine)
_UNITS = {"K": 1, "M": 2, "G": 3, "T": 4}


def _parse_int64(text: str, plus_ok: bool) -> int | None:
    """strconv.ParseInt(text, 10, 64) (plus_ok) or the runtime's older atoi64: None on error."""
    if not text:
        return None
    sign, digits = 1, text
    if text[0] == "-":
        sign, digits = -1, text[1:]
    elif text[0] == "+" and plus_ok:
        digits = text[1:]
    # ASCII digits only: str.isdigit() would accept '²' or Arabic-Indic digits, Go does not.
    if not digits or any(c < "0" or c > "9" for c in digits):
        return None
    value = sign * int(digits)
    if value > MAX_INT64 or value < -MAX_INT64 - 1:
        return None
    return value


def parse_byte_count(text: str, *, go_minor: int | None = None) -> int | None:
    """runtime.parseByteCount: bytes, or None when the runtime rejects the string.

    go_minor picks the number parser (Go ≥ 1.26 accepts a leading '+'); None = the strict
    one of Go 1.19–1.25, which is what every Go version accepts."""
    plus_ok = go_minor is not None and go_minor >= PLUS_SIGN_GO_MINOR
    if not text:
        return None
    last = text[-1]
    if "0" <= last <= "9":
        n = _parse_int64(text, plus_ok)
        return n if n is not None and n >= 0 else None
    if last != "B" or len(text) < 2:
        return None
    c = text[-2]
    if "0" <= c <= "9":
        n = _parse_int64(text[:-1], plus_ok)
        return n if n is not None and n >= 0 else None
    if c != "i" or len(text) < 4:
        return None
    power = _UNITS.get(text[-3])
    if power is None:
        return None
    n = _parse_int64(text[:-3], plus_ok)
    if n is None or n < 0:
        return None
    m = 1024**power
    if n > MAX_UINT64 // m or n * m > MAX_INT64:
        return None  # overflow
    return n * m


@dataclass(frozen=True)
class Gomemlimit:
    """One GOMEMLIMIT value as a given Go runtime reads it."""

    value: str
    ok: bool
    limit_bytes: int | None  # None: no limit ("" or "off"), or malformed
    reason: str = ""


def read_gomemlimit(value, *, go_minor: int | None = None) -> Gomemlimit:
    """runtime.readGOMEMLIMIT for a value (not stripped: " 4GiB" aborts the runtime)."""
    text = "" if value is None else str(value)
    if text in ("", "off"):
        return Gomemlimit(text, True, None)
    n = parse_byte_count(text, go_minor=go_minor)
    if n is not None:
        return Gomemlimit(text, True, n)
    return Gomemlimit(text, False, None, _why(text, go_minor))


_SHAPE = re.compile(r"^([+-]?)(\d+)([A-Za-z]*)$")


def _why(text: str, go_minor: int | None) -> str:
    """A short reason a value is malformed, for the finding's text."""
    if text.strip() != text:
        return "spaces around the value"
    if text.lower() == "off":
        return "'off' must be lower case"
    m = _SHAPE.match(text)
    if not m:
        return "not a byte count"
    sign, _, suffix = m.groups()
    if suffix and suffix not in ("B", "KiB", "MiB", "GiB", "TiB"):
        return f"the suffix '{suffix}' (the runtime wants B, KiB, MiB, GiB or TiB)"
    if sign == "+" and (go_minor is None or go_minor < PLUS_SIGN_GO_MINOR):
        return "a leading '+' (accepted only from Go 1.26)"
    if sign == "-":
        return "a negative value"
    return "a value over the int64 range"


def valid_for_every_runtime(value) -> bool:
    """True when every Go runtime ≥ 1.19 accepts the value."""
    return read_gomemlimit(value).ok
