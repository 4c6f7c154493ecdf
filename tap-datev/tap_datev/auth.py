"""DATEV OAuth2: endpoints from OIDC discovery, client authentication, and the token manager.

The SDK's OAuthAuthenticator cannot serve DATEV: it never stores the rotated refresh token, has
no expiry skew and treats 401 as fatal. `TokenManager` fills those gaps: it refreshes ahead of
expiry, serialises refreshes across threads and processes, and persists each new pair before the
new access token is used.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import typing as t

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from tap_datev import settings
from tap_datev.backoff import (
    RETRY_STATUSES,
    BackoffPolicy,
    never_sent,
    parse_retry_after,
    timeouts,
    why_unreachable,
)
from tap_datev.errors import (
    DatevAuthError,
    DatevConfigError,
    DatevUnreachableError,
    NotLoggedInError,
    SessionEndedError,
)
from tap_datev.tokens import TokenPair, TokenStore, resolve_client_secret

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

logger = logging.getLogger("tap-datev.auth")

REFRESH_SKEW_SECONDS = 60.0
REFRESH = "refresh the access token"
LOST_REFRESH = (
    "The refresh request reached DATEV but its answer was lost ({reason}). DATEV's refresh tokens "
    "are single-use, so it is not sent again: if DATEV redeemed it, the new token pair is lost. "
    "The next run tries the stored refresh token once more; if that reports the session ended, "
    "log in again"
)


class _RetryableAnswer(Exception):  # noqa: N818 - a signal inside the refresh loop, not an error
    def __init__(self, response: requests.Response) -> None:
        self.response = response


@dataclasses.dataclass(frozen=True)
class OidcMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None
    jwks_uri: str


def fetch_metadata(config: Mapping[str, t.Any], session: requests.Session, *, timeout: float) -> OidcMetadata:
    """Read DATEV's OIDC discovery document (production, DATEV's sandbox or the emulator).

    Often the first contact of a run: no retry, and a failure names the URL.
    """
    url = settings.discovery_url(config)
    try:
        response = session.get(url, timeout=timeouts(timeout), headers={"Accept": "application/json"})
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise DatevUnreachableError(url, why_unreachable(exc)) from None
    try:
        response.raise_for_status()
        doc = response.json()
    except (requests.RequestException, ValueError):
        what = f"HTTP {response.status_code}" if response.status_code >= 400 else "not a JSON document"
        raise DatevAuthError(
            f"Cannot read DATEV's OIDC discovery document at {url} ({what}): check the settings "
            "`environment` and `base_url`"
        ) from None
    if not isinstance(doc, dict):
        raise DatevAuthError(f"DATEV's discovery document at {url} is not a JSON object")
    try:
        return OidcMetadata(
            issuer=str(doc["issuer"]),
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            revocation_endpoint=doc.get("revocation_endpoint"),
            jwks_uri=str(doc["jwks_uri"]),
        )
    except KeyError as exc:
        raise DatevAuthError(f"DATEV's discovery document at {url} lacks {exc.args[0]}") from exc


def oauth_session(
    config: Mapping[str, t.Any],
    *,
    scope: str | None = None,
    redirect_uri: str | None = None,
    timeout: float | None = None,
) -> OAuth2Session:
    """An authlib session whose client authentication follows `client_auth`.

    One setting for code exchange, refresh and revoke alike: `none` puts only client_id in the
    body and never sends the secret; `basic` sends HTTP Basic.
    """
    mode = settings.client_auth(config)
    secret: str | None = None
    if mode == "basic":
        secret = resolve_client_secret(config)
        if not secret:
            raise DatevConfigError(
                "client_auth is `basic` but no client_secret is set (setting `client_secret` or "
                f"field `client_secret` of the credential store entry `{settings.APP_CREDENTIAL}`)"
            )
    method = "client_secret_basic" if mode == "basic" else "none"
    return OAuth2Session(
        client_id=settings.client_id(config),
        client_secret=secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        default_timeout=timeouts(timeout or settings.number(config, "request_timeout_seconds")),
    )


def explain_oauth_error(config: Mapping[str, t.Any], exc: OAuthError, action: str) -> DatevAuthError:
    """Turn a token endpoint error into a message saying what to change."""
    error = exc.error or "error"
    description = f" ({exc.description})" if exc.description else ""
    if error == "invalid_client":
        mode = settings.client_auth(config)
        hint = (
            "If the DATEV app is a confidential client, set client_auth: basic and provide its "
            f"client_secret (setting or credential store entry `{settings.APP_CREDENTIAL}`)."
            if mode == "none"
            else "Check the client_secret; if the DATEV app is a public client, set client_auth: none."
        )
        return DatevAuthError(
            f"DATEV rejected the client authentication while trying to {action} "
            f"(invalid_client{description}) with client_auth={mode}. {hint}"
        )
    if error == "invalid_grant" and action == REFRESH:
        return SessionEndedError(f"{session_end_reason(exc.description)} (DATEV: invalid_grant{description})")
    return DatevAuthError(f"DATEV refused to {action}: {error}{description}")


def session_end_reason(description: str | None) -> str:
    """Why DATEV refused a refresh token, from its error_description (the code is always
    invalid_grant)."""
    text = (description or "").lower()
    if "already" in text or "reuse" in text or "redeemed" in text:
        return (
            "the refresh token was already used (DATEV's refresh tokens are single-use; reusing "
            "one revokes the whole session)"
        )
    if "expired" in text:
        return "the refresh token expired"
    if "revoked" in text or "logout" in text:
        return "the session was revoked (logout, or revoked in DATEV's user administration)"
    return "DATEV no longer accepts the refresh token (expired, revoked or already used)"


def post_token(
    config: Mapping[str, t.Any],
    action: str,
    call: Callable[[], t.Any],
) -> dict[str, t.Any]:
    try:
        return dict(call())
    except OAuthError as exc:
        raise explain_oauth_error(config, exc, action) from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise DatevAuthError(
            f"DATEV's token endpoint answered HTTP {status} while trying to {action}"
        ) from None
    except requests.RequestException as exc:
        if action == REFRESH:
            raise  # TokenManager._redeem decides whether resending is safe
        raise DatevAuthError(
            f"Cannot reach DATEV's token endpoint to {action}: {type(exc).__name__}"
        ) from None
    except ValueError as exc:
        raise DatevAuthError(
            f"Unexpected answer from DATEV's token endpoint while trying to {action}: {exc}"
        ) from None


class TokenManager:
    """Hands out a valid access token; refreshes ahead of expiry and after a 401.

    One per tap process, shared by all streams and subcommands (thread-safe). Across processes
    the credential store's lock makes sure a refresh token is redeemed exactly once.
    """

    def __init__(
        self,
        config: Mapping[str, t.Any],
        *,
        clock: Callable[[], float] = time.time,
        skew: float = REFRESH_SKEW_SECONDS,
        store: TokenStore | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.skew = skew
        self._store = store
        self._lock = threading.Lock()
        self._pair: TokenPair | None = None
        self._metadata: OidcMetadata | None = None
        self._http = requests.Session()
        self._timeout = settings.number(config, "request_timeout_seconds")
        self.refresh_count = 0
        self.backoff = BackoffPolicy.from_config(config)
        self.sleep: Callable[[float], None] = time.sleep

    @property
    def store(self) -> TokenStore:
        if self._store is None:
            self._store = TokenStore.from_config(self.config)
        return self._store

    @property
    def metadata(self) -> OidcMetadata:
        if self._metadata is None:
            self._metadata = fetch_metadata(self.config, self._http, timeout=self._timeout)
        return self._metadata

    @property
    def granted_scopes(self) -> frozenset[str]:
        with self._lock:
            return self._current().scopes

    def check_login(self) -> None:
        """Load the stored pair (logging the refresh token's expiry once per process); raises
        NotLoggedInError when none is stored, SessionEndedError when its refresh token expired."""
        with self._lock:
            self._current()

    def access_token(self) -> str:
        """A token valid for at least `skew` more seconds."""
        with self._lock:
            pair = self._current()
            if not pair.access_valid(self.clock(), self.skew):
                pair = self._refresh(pair, rejected=None)
            return pair.access_token

    def refresh_after_rejection(self, rejected_access_token: str) -> str:
        """DATEV answered 401 to `rejected_access_token`: get a different, fresh one."""
        with self._lock:
            pair = self._current()
            if pair.access_token != rejected_access_token:
                return pair.access_token  # another thread already refreshed
            return self._refresh(pair, rejected=rejected_access_token).access_token

    def _current(self) -> TokenPair:
        if self._pair is None:
            pair = self.store.load()
            if pair is None:
                raise NotLoggedInError(
                    f"no token pair stored for client_id {settings.client_id(self.config)} in the "
                    f"{settings.environment(self.config)} environment"
                )
            self._check_refresh_alive(pair)
            logger.info("DATEV refresh token valid until %s", pair.refresh_expiry_text())
            self._pair = pair
        return self._pair

    def _check_refresh_alive(self, pair: TokenPair) -> None:
        if pair.refresh_expired(self.clock()):
            raise SessionEndedError(f"the refresh token expired at {pair.refresh_expiry_text()}")

    def _refresh(self, held: TokenPair, *, rejected: str | None) -> TokenPair:
        with self.store.locked():
            stored = self.store.load()
            if stored is None:
                self._pair = None
                raise SessionEndedError("the stored login was removed (by `tap-datev logout`?)")
            now = self.clock()
            rotated_elsewhere = stored.refresh_token != held.refresh_token
            if rotated_elsewhere and stored.access_valid(now, self.skew) and stored.access_token != rejected:
                # Another process redeemed the refresh token we held; its pair is ours now.
                logger.info("Using the DATEV token pair another process refreshed")
                self._pair = stored
                return stored
            self._check_refresh_alive(stored)
            fresh = self._redeem(stored)
            # Persist before use: if we crashed after redeeming, the old RT would be dead.
            self.store.save(fresh)
        self._pair = fresh
        self.refresh_count += 1
        logger.info(
            "Refreshed the DATEV access token; refresh token valid until %s",
            fresh.refresh_expiry_text(),
        )
        return fresh

    def _redeem(self, stored: TokenPair) -> TokenPair:
        """Redeem the refresh token; back off on 429/503 and on connection errors that happened
        before the request was sent. An answer lost after sending is not retried (single-use)."""
        endpoint = self.metadata.token_endpoint
        waited = 0.0
        attempt = 0
        while True:
            session = oauth_session(self.config, timeout=self._timeout)
            session.register_compliance_hook("refresh_token_response", _raise_retryable)
            sent_at = self.clock()
            try:
                answer = post_token(
                    self.config,
                    REFRESH,
                    functools.partial(session.refresh_token, endpoint, refresh_token=stored.refresh_token),
                )
                break
            except _RetryableAnswer as exc:
                what = f"HTTP {exc.response.status_code}"
                retry_after = parse_retry_after(exc.response.headers.get("Retry-After"), self.clock())
            except requests.RequestException as exc:
                if not never_sent(exc):
                    raise DatevAuthError(LOST_REFRESH.format(reason=type(exc).__name__)) from None
                what, retry_after = why_unreachable(exc), None
            delay = self.backoff.delay(attempt, retry_after)
            if waited + delay > self.backoff.budget:
                raise DatevAuthError(
                    f"DATEV's token endpoint {endpoint} still failed ({what}) after {waited:.0f} s of "
                    "retries; the stored refresh token was not redeemed and stays usable"
                )
            logger.warning("DATEV token endpoint: %s; retry %d in %.2f s", what, attempt + 1, delay)
            self.sleep(delay)
            waited += delay
            attempt += 1
        try:
            return TokenPair.from_token_response(answer, now=sent_at, previous=stored)
        except ValueError as exc:
            raise DatevAuthError(f"Unexpected refresh answer from DATEV: {exc}") from None


def _raise_retryable(response: requests.Response) -> requests.Response:
    """authlib compliance hook: hand 429/503 to the retry loop before authlib parses the body."""
    if response.status_code in RETRY_STATUSES:
        raise _RetryableAnswer(response)
    return response


class DatevAuth(requests.auth.AuthBase):
    """Adds `Authorization: Bearer …` and `X-DATEV-Client-Id` to a request."""

    def __init__(self, tokens: TokenManager, client_id: str) -> None:
        self.tokens = tokens
        self.client_id = client_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens.access_token()}"
        request.headers["X-DATEV-Client-Id"] = self.client_id
        return request
