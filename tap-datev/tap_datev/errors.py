"""Errors the tap raises, with messages a user can act on (never a token or secret in them)."""

from __future__ import annotations

import json
import typing as t
from urllib.parse import urlsplit

from singer_sdk.exceptions import FatalAPIError

if t.TYPE_CHECKING:
    import requests

LOGIN_COMMAND = "run `tap-datev login` (in a Meltano project: `meltano invoke tap-datev:login`)"


class TapDatevError(Exception):
    """Base of every error the tap raises on purpose: its message is meant for the user."""


class DatevConfigError(TapDatevError):
    """A setting is missing or inconsistent."""


class DatevAuthError(TapDatevError):
    """Login, token refresh or revocation failed."""


class LoginRequiredError(DatevAuthError):
    """No usable refresh token: a human must consent again in the browser."""


class NotLoggedInError(LoginRequiredError):
    """Nobody has logged in yet for this DATEV environment and OAuth client."""

    def __init__(self, what: str) -> None:
        super().__init__(f"Not logged in to DATEV yet ({what}): {LOGIN_COMMAND}")


class SessionEndedError(LoginRequiredError):
    """The stored login ended (refresh token expired, revoked or already used)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"The DATEV session ended: {why}. Log in again: {LOGIN_COMMAND}")


class DatevUnreachableError(TapDatevError):
    """DATEV never answered: wrong URL, DNS failure, connection refused, no route.

    Not retried: backoff is for a DATEV that has answered before and fails transiently.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"Cannot reach DATEV at {url}: {reason}. Check the network and the settings "
            "`environment` and `base_url`"
        )


class DatevAPIError(TapDatevError, FatalAPIError):
    """An error answer of a DATEV API, parsed from any of DATEV's three error shapes.

    - ProblemDetails (clients, EXTF): `type`, `title`, `detail`, `request_id`, `status`
      (the code is the last path segment of `type`, e.g. `http://www.datev.de/hilfe/1008829`)
    - RFC 9457 (Accounting Data Exchange): the same in camelCase (`requestId`)
    - DCO (documents, DXSO): `error` (e.g. `#DCO01005`), `error_description`, `request_id`, `error_uri`
    """

    def __init__(
        self,
        status: int,
        *,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.request_id = request_id
        self.method = method
        self.path = path
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"DATEV answered HTTP {self.status}"
        if self.method or self.path:
            head += f" for {self.method} {self.path}".rstrip()
        facts = [
            f"code {self.code}" if self.code else None,
            self.title,
            self.detail,
            f"request id {self.request_id}" if self.request_id else None,
        ]
        shown = [fact for fact in facts if fact]
        return f"{head}: {'; '.join(shown)}" if shown else head

    @classmethod
    def from_response(cls, response: requests.Response, *, path: str | None = None) -> DatevAPIError:
        """Parse DATEV's error body; fall back to the HTTP reason (never the raw body)."""
        body = _json_object(response)
        code = title = detail = request_id = None
        if "error_description" in body or "error_uri" in body:
            code = _text(body.get("error"))
            title = _text(body.get("error_description"))
            detail = _text(body.get("detail")) or _text(body.get("error_uri"))
            request_id = _text(body.get("request_id"))
        elif body:
            title = _text(body.get("title"))
            detail = _text(body.get("detail"))
            request_id = _text(body.get("request_id")) or _text(body.get("requestId"))
            code = _text(body.get("code")) or _code_from_type(_text(body.get("type")))
            affected = body.get("affected_elements")
            if isinstance(affected, list) and affected:
                listed = ", ".join(
                    f"{a.get('name')}: {a.get('reason')}" for a in affected if isinstance(a, dict)
                )
                detail = f"{detail} ({listed})" if detail else listed
        if not title:
            title = response.reason or None
        request_id = (
            request_id
            or response.headers.get("X-Global-Transaction-ID")
            or response.headers.get("V-Cap-Request-ID")
        )
        return cls(
            response.status_code,
            code=code,
            title=title,
            detail=detail,
            request_id=request_id,
            method=getattr(response.request, "method", None) or "",
            path=path if path is not None else _path_of(response),
        )


def _json_object(response: requests.Response) -> dict[str, t.Any]:
    try:
        value = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _code_from_type(type_uri: str | None) -> str | None:
    if not type_uri or type_uri == "about:blank":
        return None
    tail = type_uri.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def _path_of(response: requests.Response) -> str:
    # Only the path: a query string could carry a filter with client data.
    return urlsplit(response.url or "").path
