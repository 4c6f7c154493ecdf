"""One authenticated HTTP client for all DATEV APIs, and the base class of the tap's streams.

`DatevClient` owns what every call needs: base URL per API, `Authorization: Bearer` and
`X-DATEV-Client-Id`, refresh ahead of expiry, one refresh + one retry on 401, backoff on 429/503
and connection errors (once DATEV has answered: the first contact fails fast), and DATEV's error
shapes. Streams and the `submit` commands both use it, so the rules live in one place.
"""

from __future__ import annotations

import logging
import time
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk.pagination import OffsetPaginator, SinglePagePaginator
from singer_sdk.streams.rest import PageContext, RESTStream

from tap_datev import settings
from tap_datev.auth import DatevAuth, TokenManager
from tap_datev.backoff import (
    RETRY_STATUSES,
    BackoffPolicy,
    parse_retry_after,
    timeouts,
    why_unreachable,
    without_query,
)
from tap_datev.errors import DatevAPIError, DatevUnreachableError
from tap_datev.record_messages import SelectedRecordMessages

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

logger = logging.getLogger("tap-datev.client")

PAGE_SIZE = 100  # DATEV's maximum `top`


class DatevClient:
    """One authenticated session for the DATEV APIs (thread-safe token handling).

    `sleep` and `clock` are attributes so tests can replace them.
    """

    def __init__(
        self,
        config: Mapping[str, t.Any],
        *,
        tokens: TokenManager | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.tokens = tokens or TokenManager(config)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = "tap-datev"
        self.auth = DatevAuth(self.tokens, settings.client_id(config))
        self.timeout = timeouts(settings.number(config, "request_timeout_seconds"))
        self.backoff = BackoffPolicy.from_config(config)
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.time
        # Until DATEV has answered once, a connection error means a wrong URL or no network:
        # fail at once instead of backing off for up to backoff_budget_seconds.
        self.answered = False
        # Scopes of each DATEV client's data services, as the clients stream read them: streams
        # skip clients whose services lack what they need (a DATEV rule).
        self.client_service_scopes: dict[str, frozenset[str]] = {}

    def base_url(self, api: str) -> str:
        return settings.api_base_url(self.config, api)

    @property
    def granted_scopes(self) -> frozenset[str]:
        return self.tokens.granted_scopes

    def prove_session(self) -> None:
        """Show that DATEV is reachable and the stored login works, before anything is emitted.

        Reads the OIDC discovery document (a wrong base_url fails here, naming the URL), then
        lists one client with the stored token (refreshing it if due): raises NotLoggedInError,
        SessionEndedError, DatevUnreachableError or DatevAPIError.
        """
        self.tokens.check_login()
        _ = self.tokens.metadata
        self.request("GET", "clients", "/clients", params={"top": 1})
        logger.info("DATEV reachable at %s; the stored login works", self.base_url("clients"))

    def request(
        self,
        method: str,
        api: str,
        path: str,
        *,
        params: Mapping[str, t.Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: t.Any = None,
        files: t.Any = None,
        json: t.Any = None,
        retry: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """Call `path` of one API (`clients`, `documents`, `extf`, `dxso`, `ade`); raise DatevAPIError
        on errors. `stream`: the body is read as it is consumed (large ndjson pages)."""
        url = self.base_url(api) + (path if path.startswith("/") else f"/{path}")
        request = requests.Request(
            method.upper(),
            url,
            params=dict(params or {}),
            headers={"Accept": "application/json", **dict(headers or {})},
            data=data,
            files=files,
            json=json,
        )
        if stream:
            return self.send(request, retry=retry, stream=True)
        return self.send(request, retry=retry)

    def send(
        self, request: requests.Request, *, retry: bool = True, stream: bool = False
    ) -> requests.Response:
        """Send with auth headers, 401 → one refresh + one retry, backoff on 429/503/connection errors."""
        # Prepared once (file bodies are read once), copied per attempt.
        prepared = self.session.prepare_request(request)
        path = urlsplit(prepared.url or "").path
        waited = 0.0
        attempt = 0
        refreshed = False
        while True:
            attempt_request = self.auth(prepared.copy())
            used_token = (attempt_request.headers.get("Authorization") or "")[len("Bearer ") :]
            try:
                response = self.session.send(attempt_request, timeout=self.timeout, stream=stream)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not self.answered:
                    raise DatevUnreachableError(
                        without_query(prepared.url or ""), why_unreachable(exc)
                    ) from None
                delay = self.backoff.delay(attempt, None)
                if not retry or waited + delay > self.backoff.budget:
                    logger.error("Giving up on %s %s: %s", request.method, path, type(exc).__name__)
                    raise
                self._wait(delay, f"{type(exc).__name__} for {request.method} {path}", attempt)
                waited += delay
                attempt += 1
                continue

            self.answered = True
            if response.status_code == 401 and not refreshed:
                refreshed = True
                logger.info("DATEV answered 401 for %s %s; refreshing the token once", request.method, path)
                self.tokens.refresh_after_rejection(used_token)
                continue

            if response.status_code in RETRY_STATUSES and retry:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock())
                delay = self.backoff.delay(attempt, retry_after)
                if waited + delay > self.backoff.budget:
                    error = DatevAPIError.from_response(response, path=path)
                    logger.error(
                        "Giving up on %s %s after %.1f s of retries: %s", request.method, path, waited, error
                    )
                    raise error
                self._wait(delay, f"HTTP {response.status_code} for {request.method} {path}", attempt)
                waited += delay
                attempt += 1
                continue

            if response.status_code >= 400:
                raise DatevAPIError.from_response(response, path=path)
            return response

    def _wait(self, delay: float, what: str, attempt: int) -> None:
        logger.warning("DATEV: %s; retry %d in %.2f s", what, attempt + 1, delay)
        self.sleep(delay)


def shared_client(tap: Tap) -> DatevClient:
    """The tap's one DatevClient (created on first use, so discovery never touches the token store)."""
    client: DatevClient | None = getattr(tap, "_datev_client", None)
    if client is None:
        client = DatevClient(tap.config)
        tap._datev_client = client  # type: ignore[attr-defined]
    return client


class DatevOffsetPaginator(OffsetPaginator):
    """`skip`/`top` paging: stop at `Total-Items` when DATEV sends it, else at a short page."""

    def has_more(self, response: requests.Response) -> bool:
        total = response.headers.get("Total-Items")
        if total and total.isdigit():
            return self._value + self.page_size < int(total)
        body = response.json()
        return isinstance(body, list) and len(body) >= self.page_size


class DatevStream(SelectedRecordMessages, RESTStream[t.Any]):
    """Base of every DATEV API stream.

    Subclasses set `api` (which DATEV API), `scopes` (OAuth scopes login must ask for) and, for
    per-client streams, `client_service_scope` (a scope the client's data services must list,
    else the client is skipped).
    """

    api: t.ClassVar[str] = "clients"
    scopes: t.ClassVar[tuple[str, ...]] = ()
    client_service_scope: t.ClassVar[str | None] = None
    records_jsonpath = "$[*]"
    _scope_note_logged = False

    @property
    def datev(self) -> DatevClient:
        return shared_client(self._tap)

    @property
    def url_base(self) -> str:
        return settings.api_base_url(self.config, self.api)

    @property
    def authenticator(self) -> DatevAuth:
        return self.datev.auth

    @property
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def response_error_message(self, response: requests.Response) -> str:
        # The SDK's default shows the whole body and header names; DATEV's parsed error is enough.
        return str(DatevAPIError.from_response(response))

    def client_allowed(self, context: Context | None) -> bool:
        """False (with a log line) when the context's client lacks the data service this stream needs."""
        if not self.client_service_scope or not context or "client_id" not in context:
            return True
        client_id = str(context["client_id"])
        scopes = self.datev.client_service_scopes.get(client_id)
        if scopes is not None and self.client_service_scope not in scopes:
            self.logger.info(
                "Skipping client %s for stream %s: its DATEV services do not include scope %s",
                client_id,
                self.name,
                self.client_service_scope,
            )
            return False
        return True

    def scopes_granted(self) -> bool:
        """False (with one log line) when the login lacks a scope this stream needs.

        Login asks only for the scopes of the configured submit kinds (DATEV's rule), so e.g.
        document_types is skipped when `documents` is not among submit_kinds. A token answer
        without `scope` tells nothing: then the stream runs.
        """
        granted = self.datev.granted_scopes
        missing = sorted(set(self.scopes) - granted) if granted else []
        if missing and not self._scope_note_logged:
            self.logger.info(
                "Skipping stream %s: the DATEV login did not grant %s (login asks for it when "
                "submit_kinds enable it)",
                self.name,
                " ".join(missing),
            )
            self._scope_note_logged = True
        return not missing

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not self.scopes_granted() or not self.client_allowed(context):
            return
        yield from super().get_records(context)

    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The SDK's paging loop, but every request goes through the shared DatevClient."""
        paginator = self.get_new_paginator() or SinglePagePaginator()
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            while not paginator.finished:
                http_request = self.get_http_request(
                    page=PageContext(stream_context=context, next_page_token=paginator.current_value)
                )
                response = self.datev.send(
                    requests.Request(
                        http_request.method,
                        http_request.url,
                        params=http_request.encode_params(),
                        headers=http_request.headers,
                        data=http_request.data,
                    )
                )
                request_counter.increment()
                records = iter(self.parse_response(response))
                first = next(records, None)
                if first is None and not paginator.continue_if_empty(response):
                    break
                if first is not None:
                    yield first
                    yield from records
                paginator.advance(response)


class PagedDatevStream(DatevStream):
    """A DATEV list endpoint paged with `skip`/`top` (100 per page)."""

    def get_new_paginator(self) -> DatevOffsetPaginator:
        return DatevOffsetPaginator(start_value=0, page_size=PAGE_SIZE)

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"skip": next_page_token or 0, "top": PAGE_SIZE}
