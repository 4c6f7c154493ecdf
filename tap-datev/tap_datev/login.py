"""`tap-datev login` / `logout`: DATEV's authorization code flow with PKCE, and revocation.

A human consents once in the browser; the tap then lives on refresh tokens. DATEV has no
client-credentials grant, so nothing here (or anywhere) holds a hard-coded token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import http.server
import logging
import secrets
import sys
import threading
import time
import typing as t
import webbrowser
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tap_datev import settings
from tap_datev.auth import OidcMetadata, fetch_metadata, oauth_session, post_token
from tap_datev.errors import DatevAuthError
from tap_datev.tokens import TokenPair, TokenStore, format_expiry

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

logger = logging.getLogger("tap-datev.login")

LOGIN_TIMEOUT_SECONDS = 300.0


@dataclasses.dataclass(frozen=True)
class LoginResult:
    """What a login stored (no token in here)."""

    entry: str
    scopes: frozenset[str]
    refresh_expires_at: float | None
    subject: str | None

    def describe(self) -> str:
        expiry = format_expiry(self.refresh_expires_at)
        return (
            f"Logged in to DATEV; tokens stored as {self.entry}. Granted scopes: "
            f"{' '.join(sorted(self.scopes))}. Refresh token valid until {expiry}."
        )


def login_scopes(config: Mapping[str, t.Any]) -> list[str]:
    """openid + offline_access, the clients scopes, the scopes of the enabled submit kinds, and the
    Accounting Data Exchange scope when `ade_enabled`.

    DATEV: request only the scopes of data services actually used. The clients scopes are always
    needed (the clients stream; the checks against a client's accounting basics before a submit);
    a stream whose scope was not asked for is skipped (DatevStream.get_records).
    """
    wanted: list[str] = [*settings.BASE_SCOPES, *settings.ALWAYS_SCOPES]
    for kind in settings.submit_kinds(config):
        wanted.extend(settings.SUBMIT_SCOPES[kind])
    if settings.ade_enabled(config):
        wanted.append(settings.ADE_SCOPE)
    return list(dict.fromkeys(wanted))


def new_secret() -> str:
    """A fresh random value for state and nonce (43 url-safe characters; DATEV wants >= 20)."""
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    return secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43..128


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path != self.server.expected_path or not ({"code", "error"} & query.keys()):
            self.send_error(404)
            return
        self.server.callback_path = self.path
        body = b"<html><body><p>DATEV login received. You can close this window.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.received.set()

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        pass  # the query holds the authorization code: keep it out of any log


class _CallbackServer(http.server.HTTPServer):
    def __init__(self, host: str, port: int, expected_path: str) -> None:
        super().__init__((host, port), _CallbackHandler)
        self.expected_path = expected_path
        self.callback_path: str | None = None
        self.received = threading.Event()


class LoopbackListener:
    """Catches DATEV's redirect on the redirect_uri's loopback host/port (port 0: any free one)."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        self._parts = parts
        port = parts.port if parts.port is not None else 80  # port 0: any free port
        self._server = _CallbackServer(parts.hostname or "127.0.0.1", port, parts.path or "/")
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="datev-login", daemon=True
        )

    @property
    def redirect_uri(self) -> str:
        """The redirect URI with the port actually bound."""
        port = self._server.server_address[1]
        netloc = f"{self._parts.hostname}:{port}"
        return urlunsplit((self._parts.scheme, netloc, self._parts.path or "/", "", ""))

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> str:
        if not self._server.received.wait(timeout):
            raise DatevAuthError(f"No answer from the DATEV login within {timeout:.0f} s")
        path = self._server.callback_path or ""
        return urlunsplit((self._parts.scheme, self._parts.netloc, "", "", "")) + path


def _default_open_url(url: str) -> None:
    print(f"Open this URL in a browser to log in to DATEV:\n\n  {url}\n", file=sys.stderr)
    webbrowser.open(url)


def _default_read_redirect() -> str:
    return input("After consenting, paste the full URL your browser was redirected to: ").strip()


def validate_id_token(
    id_token: str,
    *,
    metadata: OidcMetadata,
    client_id: str,
    nonce: str,
    http: requests.Session,
    timeout: float,
    now: float | None = None,
) -> dict[str, t.Any]:
    """Check the ID token's RS256 signature (keys from the JWKS endpoint), issuer, audience, nonce, expiry."""
    try:
        response = http.get(metadata.jwks_uri, timeout=timeout)
        response.raise_for_status()
        keys = KeySet.import_key_set(response.json())
    except (requests.RequestException, ValueError, JoseError) as exc:
        raise DatevAuthError(f"Cannot read DATEV's signing keys: {type(exc).__name__}") from None
    try:
        token = jwt.decode(id_token, keys, algorithms=["RS256"])
        registry = jwt.JWTClaimsRegistry(
            now=int(now) if now is not None else None,
            leeway=120,
            iss={"essential": True, "value": metadata.issuer},
            aud={"essential": True, "value": client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            sub={"essential": True},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError) as exc:
        # No claim values in the message: the nonce is a one-time secret.
        raise DatevAuthError(
            f"Refusing DATEV's ID token: {type(exc).__name__} ({getattr(exc, 'error', 'invalid')})"
        ) from None
    return dict(token.claims)


def _callback_params(url: str) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query)
    return {key: values[0] for key, values in query.items() if values}


def login(
    config: Mapping[str, t.Any],
    *,
    open_url: Callable[[str], None] | None = None,
    read_redirect: Callable[[], str] | None = None,
    clock: Callable[[], float] = time.time,
) -> LoginResult:
    """Run the authorization code + PKCE flow and store the token pair in the credential store."""
    timeout = settings.number(config, "request_timeout_seconds")
    http = requests.Session()
    metadata = fetch_metadata(config, http, timeout=timeout)
    client_id = settings.client_id(config)
    store = TokenStore.from_config(config)
    scope = " ".join(login_scopes(config))
    # Fresh per attempt: a replayed state, nonce or verifier must never match.
    state, nonce, verifier = new_secret(), new_secret(), new_code_verifier()

    with _redirect_catcher(config, read_redirect or _default_read_redirect) as (redirect_uri, wait):
        session = oauth_session(config, scope=scope, redirect_uri=redirect_uri, timeout=timeout)
        # enableWindowsSso: DATEV requires it for "Login mit DATEV" and recommends it otherwise.
        url, _ = session.create_authorization_url(
            metadata.authorization_endpoint,
            state=state,
            code_verifier=verifier,
            nonce=nonce,
            enableWindowsSso="true",
        )
        (open_url or _default_open_url)(url)
        callback_url = wait()

    params = _callback_params(callback_url)
    if not hmac.compare_digest(params.get("state", ""), state):
        raise DatevAuthError("Refusing the DATEV login answer: its state does not match this login attempt")
    if "error" in params:
        described = f" ({params['error_description']})" if params.get("error_description") else ""
        raise DatevAuthError(f"DATEV refused the login: {params['error']}{described}")
    if not params.get("code"):
        raise DatevAuthError("The DATEV login answer has no authorization code")

    sent_at = clock()
    answer = post_token(
        config,
        "exchange the authorization code",
        lambda: session.fetch_token(
            metadata.token_endpoint,
            grant_type="authorization_code",
            code=params["code"],
            code_verifier=verifier,
            redirect_uri=redirect_uri,
        ),
    )
    if not answer.get("id_token"):
        raise DatevAuthError("DATEV's token answer has no ID token (was scope openid granted?)")
    claims = validate_id_token(
        str(answer["id_token"]),
        metadata=metadata,
        client_id=client_id,
        nonce=nonce,
        http=http,
        timeout=timeout,
        now=clock(),
    )
    try:
        pair = TokenPair.from_token_response(answer, now=sent_at)
    except ValueError as exc:
        raise DatevAuthError(
            f"DATEV's token answer is incomplete ({exc}); was scope offline_access granted?"
        ) from None
    granted = pair.scopes
    if "offline_access" not in granted and granted:
        logger.warning("DATEV did not grant offline_access: the refresh token dies ~11 h after this login")
    with store.locked():
        store.save(pair)
    result = LoginResult(
        entry=store.name,
        scopes=granted,
        refresh_expires_at=pair.refresh_expires_at,
        subject=str(claims.get("sub")) if claims.get("sub") else None,
    )
    logger.info(
        "DATEV login stored as %s; refresh token valid until %s", store.name, pair.refresh_expiry_text()
    )
    return result


@contextlib.contextmanager
def _redirect_catcher(
    config: Mapping[str, t.Any], read_redirect: Callable[[], str]
) -> Iterator[tuple[str, Callable[[], str]]]:
    """The redirect URI to send, and how to get the redirected URL back."""
    if settings.uses_loopback(config):
        with LoopbackListener(settings.redirect_uri(config)) as listener:
            yield listener.redirect_uri, lambda: listener.wait(LOGIN_TIMEOUT_SECONDS)
    else:
        yield settings.redirect_uri(config), read_redirect


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("error")) if isinstance(body, dict) and body.get("error") else None


@dataclasses.dataclass(frozen=True)
class LogoutResult:
    entry: str
    revoked: tuple[str, ...]
    had_tokens: bool


def logout(config: Mapping[str, t.Any]) -> LogoutResult:
    """Revoke access and refresh token at DATEV (token_type_hint is mandatory there), then forget them."""
    store = TokenStore.from_config(config)
    timeout = settings.number(config, "request_timeout_seconds")
    with store.locked():
        pair = store.load()
        if pair is None:
            return LogoutResult(store.name, (), had_tokens=False)
        metadata = fetch_metadata(config, requests.Session(), timeout=timeout)
        if not metadata.revocation_endpoint:
            raise DatevAuthError("DATEV's discovery document names no revocation endpoint")
        session = oauth_session(config, timeout=timeout)
        revoked = []
        for hint, token in (("access_token", pair.access_token), ("refresh_token", pair.refresh_token)):
            try:
                response = session.revoke_token(
                    metadata.revocation_endpoint, token=token, token_type_hint=hint
                )
            except requests.RequestException as exc:
                raise DatevAuthError(
                    f"Cannot reach DATEV to revoke the {hint}: {type(exc).__name__}"
                ) from None
            if response.status_code == 401 or _oauth_error(response) == "invalid_client":
                raise DatevAuthError(
                    f"DATEV rejected the client authentication while revoking the {hint} "
                    f"(client_auth={settings.client_auth(config)}); check client_auth and client_secret"
                )
            if response.status_code >= 400:
                raise DatevAuthError(f"DATEV answered HTTP {response.status_code} when revoking the {hint}")
            revoked.append(hint)
        store.delete()
    return LogoutResult(store.name, tuple(revoked), had_tokens=True)
