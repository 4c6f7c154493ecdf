"""When to retry a DATEV request, and how long to wait first.

Shared by the API client and the token endpoint, so both follow DATEV's rule the same way:
back off on 429, 503 and connection errors of a DATEV that has answered before, never on the
first contact of a run, and never resend what may already have been processed when its
processing cannot be repeated (a refresh token is single-use).
"""

from __future__ import annotations

import email.utils
import random
import typing as t
from datetime import UTC
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError

from tap_datev import settings

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

RETRY_STATUSES = frozenset({429, 503})  # 500 is not retried: DATEV says it will not help
# A host that accepts no connection within this time is not there; the read timeout
# (request_timeout_seconds) can stay long for slow answers.
CONNECT_TIMEOUT_SECONDS = 10.0


class BackoffPolicy:
    """Exponential backoff with equal jitter, capped per wait and in total.

    Wait number n (0-based) lies in [cap/2, cap] with cap = min(maximum, base * 2**n): the first
    wait is near `base` (DATEV: "exponential backoff with jitter starting near 5 seconds"), and
    parallel runs spread out. A Retry-After is a minimum: the wait is Retry-After plus jitter.
    """

    def __init__(
        self,
        base: float,
        maximum: float,
        budget: float,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.maximum = maximum
        self.budget = budget
        self.rand = rand

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> BackoffPolicy:
        return cls(
            settings.number(config, "backoff_base_seconds"),
            settings.number(config, "backoff_max_seconds"),
            settings.number(config, "backoff_budget_seconds"),
        )

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        cap = min(self.maximum, self.base * (2**attempt))
        half = cap / 2
        if retry_after is not None:
            return max(0.0, retry_after) + half * self.rand()
        return half + half * self.rand()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def timeouts(read_timeout: float) -> tuple[float, float]:
    """(connect, read) timeouts for requests."""
    return min(CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout


def _urllib3_reason(exc: requests.RequestException) -> object:
    reason = exc.args[0] if exc.args else None
    return getattr(reason, "reason", reason)  # MaxRetryError wraps the connection error


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request surely never reached the server: DNS failure, connection refused,
    no connection within the connect timeout. Then resending cannot repeat anything."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    # urllib3's NewConnectionError (refused, unreachable) and NameResolutionError subclass it.
    return isinstance(_urllib3_reason(exc), ConnectTimeoutError)


def why_unreachable(exc: requests.RequestException) -> str:
    """A short reason for a failed connection, without the urllib3 object dump."""
    reason = _urllib3_reason(exc)
    if isinstance(reason, NameResolutionError):
        return "the host name does not resolve (DNS)"
    if isinstance(exc, requests.ConnectTimeout):
        return "no connection within the connect timeout"
    cause = getattr(reason, "__cause__", None) or getattr(reason, "__context__", None)
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return type(exc).__name__


def without_query(url: str) -> str:
    """The URL to name in a message: a query string could carry client data."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
