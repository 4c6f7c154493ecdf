"""Who may call: the seeded service principal (OAuth M2M client credentials) and the seeded PAT."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass

from databricks_emulator.control import Control
from databricks_emulator.errors import ApiError

SERVICE_PRINCIPAL_ID = "ml-connector-sp"
SERVICE_PRINCIPAL_SECRET = "emulator-sp-secret"  # a seeded test identity, not a secret
PERSONAL_ACCESS_TOKEN = "dapi-emulator-token"
WORKSPACE_ID = "1234567890"


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str


class OAuthError(Exception):
    """An RFC 6749 token endpoint error (`{"error", "error_description"}`), HTTP 400/401."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class TokenStore:
    def __init__(self, control: Control) -> None:
        self._control = control
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self, authorization: str | None, form: dict[str, str]) -> TokenGrant:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
            except (ValueError, UnicodeDecodeError) as exc:
                raise OAuthError(401, "invalid_client", "Malformed Basic authorization.") from exc
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "Only client_credentials is supported.")
        if client_id != SERVICE_PRINCIPAL_ID or not secrets.compare_digest(
            client_secret or "", SERVICE_PRINCIPAL_SECRET
        ):
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        scopes = (form.get("scope") or "").split()
        if "all-apis" not in scopes:
            raise OAuthError(400, "invalid_scope", "The requested scope must include all-apis.")
        lifetime = self._control.token_lifetime_seconds
        token = "emu-oauth-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + lifetime
            self.issued += 1
        return TokenGrant(token, lifetime, " ".join(scopes))

    def check(self, authorization: str | None) -> None:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type.")
        token = authorization[7:].strip()
        if secrets.compare_digest(token, PERSONAL_ACCESS_TOKEN):
            return
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
        if expiry <= time.monotonic():
            raise ApiError(401, "UNAUTHENTICATED", "Token is expired.")

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()
