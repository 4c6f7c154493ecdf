"""Helpers for the DATEV emulator tests: constants, PKCE and a login flow driven with requests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from datev_emulator.server import RunningEmulator

DEMO = "ml-connector-demo"
CONFIDENTIAL = "ml-connector-confidential"
SECRET = "emulator-secret-not-for-production"
REDIRECT = "http://127.0.0.1:53682/callback"
API_SCOPES = (
    "datev:accounting:clients",
    "accounting:clients:read",
    "accounting:documents",
    "datev:accounting:extf-files-import",
    "accounting:dxso-jobs",
    "datev:accounting:exchange",
)
ALL_SCOPES = ("openid", "profile", "offline_access", *API_SCOPES)
CLIENTS = "/accounting-clients/platform/v2"
DOCUMENTS = "/accounting-documents/platform/v2"
EXTF = "/accounting-extf-files/platform/v3"
DXSO = "/accounting-dxso-jobs/platform/v2"
ADE = "/accounting-data-exchange/platform/v1"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(response: requests.Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@dataclass
class Grant:
    code: str
    verifier: str
    nonce: str
    redirect_uri: str


class Flow:
    """Drives the emulator's login the way a client does: authorize → code → token (PKCE)."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emu = emulator
        self.url = emulator.url

    def authorize(self, **overrides: Any) -> requests.Response:
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": DEMO,
            "redirect_uri": REDIRECT,
            "scope": " ".join(ALL_SCOPES),
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        return requests.get(f"{self.url}/openid/authorize", params=params, allow_redirects=False, timeout=10)

    def grant(self, client_id: str = DEMO, scopes: tuple[str, ...] = ALL_SCOPES) -> Grant:
        verifier, challenge = pkce_pair()
        nonce = secrets.token_urlsafe(24)
        response = self.authorize(
            client_id=client_id, scope=" ".join(scopes), code_challenge=challenge, nonce=nonce
        )
        assert response.status_code == 302, response.text
        return Grant(query_of(response)["code"], verifier, nonce, REDIRECT)

    def token_request(self, data: dict[str, str], client_id: str = DEMO) -> requests.Response:
        if client_id == CONFIDENTIAL:
            return requests.post(f"{self.url}/token", data=data, auth=(CONFIDENTIAL, SECRET), timeout=10)
        return requests.post(f"{self.url}/token", data={**data, "client_id": client_id}, timeout=10)

    def exchange(self, grant: Grant, client_id: str = DEMO) -> requests.Response:
        data = {
            "grant_type": "authorization_code",
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
        }
        return self.token_request(data, client_id)

    def login(self, client_id: str = DEMO, scopes: tuple[str, ...] = ALL_SCOPES) -> dict[str, Any]:
        response = self.exchange(self.grant(client_id, scopes), client_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def refresh(self, refresh_token: str, client_id: str = DEMO) -> requests.Response:
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, client_id)

    def api(
        self, method: str, path: str, access_token: str, client_id: str | None = DEMO, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {access_token}", **kwargs.pop("headers", {})}
        if client_id is not None:
            headers["X-DATEV-Client-Id"] = client_id
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)
