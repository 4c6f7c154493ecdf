"""Login (authorization code + PKCE), client authentication modes and logout against the emulator."""

from __future__ import annotations

import base64
import hashlib
import time
import typing as t
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from ml_credentials import CredentialStore
from tap_datev import settings
from tap_datev.auth import fetch_metadata
from tap_datev.client import DatevClient
from tap_datev.errors import DatevAPIError, DatevAuthError
from tap_datev.login import login, logout, validate_id_token
from tap_datev.tokens import TokenStore

CONFIDENTIAL_CLIENT = "ml-connector-confidential"
CONFIDENTIAL_SECRET = "emulator-secret-not-for-production"


def consent_in_browser(url: str) -> None:
    """The emulator's test user consents: follow the 302 into the tap's loopback listener."""
    requests.get(url, allow_redirects=True, timeout=30).raise_for_status()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = _query(url)
    query.update(changes)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def test_login_stores_tokens_with_fresh_pkce_state_and_nonce(tap_config: dict[str, t.Any]) -> None:
    seen: list[str] = []

    def browser(url: str) -> None:
        seen.append(url)
        consent_in_browser(url)

    first = login(tap_config, open_url=browser)
    login(tap_config, open_url=browser)

    params = [_query(url) for url in seen]
    for p in params:
        assert p["response_type"] == "code"
        assert p["code_challenge_method"] == "S256"
        assert len(p["state"]) >= 20 and len(p["nonce"]) >= 20
        assert {"openid", "offline_access", "datev:accounting:clients"} <= set(p["scope"].split())
        assert p["redirect_uri"].startswith("http://127.0.0.1:")
        port = int(urlsplit(p["redirect_uri"]).port or 0)
        assert port not in {0, 80}  # the free port actually bound for `:0`
    # New state, nonce and verifier for every attempt.
    assert params[0]["state"] != params[1]["state"]
    assert params[0]["nonce"] != params[1]["nonce"]
    assert params[0]["code_challenge"] != params[1]["code_challenge"]

    assert first.entry == "datev-tokens-local-ml-connector-demo"
    assert "offline_access" in first.scopes
    pair = TokenStore.from_config(tap_config).load()
    assert pair is not None and pair.refresh_expires_at is not None
    assert pair.access_token and pair.refresh_token
    assert pair.access_token not in repr(pair) and pair.refresh_token not in repr(pair)
    assert pair.access_token[:12] not in first.describe()


def test_authorization_asks_for_windows_sso_and_only_the_configured_scopes(
    tap_config: dict[str, t.Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """DATEV: enableWindowsSso=true; only the scopes of data services used, the clients scopes always.
    A stream whose scope was not asked for is skipped; the rest of the run goes on."""
    import json

    from tap_datev.tap import TapDatev

    config = {**tap_config, "submit_kinds": ["extf"]}
    seen: list[str] = []

    def browser(url: str) -> None:
        seen.append(url)
        consent_in_browser(url)

    result = login(config, open_url=browser)
    (params,) = [_query(url) for url in seen]
    assert params["enableWindowsSso"] == "true"
    assert set(params["scope"].split()) == {
        "openid",
        "offline_access",
        "datev:accounting:clients",
        "accounting:clients:read",
        "datev:accounting:extf-files-import",
    }
    assert "accounting:documents" not in result.scopes

    tap = TapDatev(config={**config, "client_ids": ["29098-55003"]})
    for name, stream in tap.streams.items():
        stream.selected = name in {"clients", "document_types"}
    capsys.readouterr()
    tap.sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    streams = {m["stream"] for m in messages if m["type"] == "RECORD"}
    assert streams == {"clients"}  # document_types skipped: no accounting:documents granted


def test_tampered_pkce_verifier_is_refused(tap_config: dict[str, t.Any]) -> None:
    # The authorization request carries the challenge of another verifier, so the verifier the tap
    # sends with the code no longer matches: the emulator checks PKCE server-side.
    other = base64.urlsafe_b64encode(hashlib.sha256(b"x" * 50).digest()).rstrip(b"=").decode()

    def browser(url: str) -> None:
        consent_in_browser(_with_params(url, code_challenge=other))

    with pytest.raises(DatevAuthError, match="code_verifier"):
        login(tap_config, open_url=browser)
    assert TokenStore.from_config(tap_config).load() is None


def test_state_mismatch_is_refused(tap_config: dict[str, t.Any]) -> None:
    def attacker_browser(url: str) -> None:
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302
        forged = _with_params(answer.headers["Location"], state="A" * 43)
        requests.get(forged, timeout=10)

    with pytest.raises(DatevAuthError, match="state does not match"):
        login(tap_config, open_url=attacker_browser)
    assert TokenStore.from_config(tap_config).load() is None


def test_id_token_with_wrong_nonce_is_refused(tap_config: dict[str, t.Any]) -> None:
    def browser(url: str) -> None:
        consent_in_browser(_with_params(url, nonce="n" * 40))

    with pytest.raises(DatevAuthError, match="ID token"):
        login(tap_config, open_url=browser)
    assert TokenStore.from_config(tap_config).load() is None


def test_id_token_signature_is_checked(tap_config: dict[str, t.Any]) -> None:
    http = requests.Session()
    metadata = fetch_metadata(tap_config, http, timeout=10)
    claims = {
        "iss": metadata.issuer,
        "aud": "ml-connector-demo",
        "sub": "someone",
        "nonce": "n" * 30,
        "iat": 1,
        "exp": 4102444800,
    }
    forger_key = RSAKey.generate_key(2048)
    forged = jwt.encode({"alg": "RS256", "kid": "emulator"}, claims, forger_key)
    kwargs: dict[str, t.Any] = {
        "metadata": metadata,
        "client_id": "ml-connector-demo",
        "nonce": "n" * 30,
        "http": http,
        "timeout": 10,
    }
    with pytest.raises(DatevAuthError, match="ID token"):
        validate_id_token(forged, **kwargs)
    # A real token's payload altered after signing fails as well.
    header, payload, signature = forged.split(".")
    with pytest.raises(DatevAuthError, match="ID token"):
        validate_id_token(f"{header}.{payload[:-2]}AA.{signature}", **kwargs)


def test_basic_client_auth_with_secret_from_store(tap_config: dict[str, t.Any]) -> None:
    config = {**tap_config, "client_id": CONFIDENTIAL_CLIENT, "client_auth": "basic"}
    store = CredentialStore.from_env(settings.credentials_path(config), settings.credentials_key_env(config))
    store.put(settings.APP_CREDENTIAL, {"client_secret": CONFIDENTIAL_SECRET})

    result = login(config, open_url=consent_in_browser)
    assert result.entry == f"datev-tokens-local-{CONFIDENTIAL_CLIENT}"
    client = DatevClient(config)
    assert client.request("GET", "clients", "/clients", params={"top": 1}).json()
    # Refresh with Basic too.
    client.tokens.clock = lambda: time.time() + 880  # within the 60 s skew of the 900 s expiry
    client.request("GET", "clients", "/clients", params={"top": 1})
    assert client.tokens.refresh_count == 1
    done = logout(config)
    assert done.revoked == ("access_token", "refresh_token")


def test_public_client_never_sends_a_configured_secret(tap_config: dict[str, t.Any]) -> None:
    # The emulator refuses a public client that sends any secret, so success proves none went out.
    config = {**tap_config, "client_secret": "should-never-leave-the-machine"}
    login(config, open_url=consent_in_browser)
    assert logout(config).revoked == ("access_token", "refresh_token")


def test_wrong_client_auth_mode_says_what_to_set(tap_config: dict[str, t.Any]) -> None:
    confidential_as_public = {**tap_config, "client_id": CONFIDENTIAL_CLIENT, "client_auth": "none"}
    with pytest.raises(DatevAuthError, match="set client_auth: basic") as first:
        login(confidential_as_public, open_url=consent_in_browser)
    assert "invalid_client" in str(first.value)

    public_as_basic = {**tap_config, "client_auth": "basic", "client_secret": "whatever-secret"}
    with pytest.raises(DatevAuthError, match="client_auth: none") as second:
        login(public_as_basic, open_url=consent_in_browser)
    assert "whatever-secret" not in str(second.value)


def test_logout_revokes_both_tokens(logged_in_config: dict[str, t.Any]) -> None:
    pair = TokenStore.from_config(logged_in_config).load()
    assert pair is not None
    result = logout(logged_in_config)
    assert result.revoked == ("access_token", "refresh_token")
    assert TokenStore.from_config(logged_in_config).load() is None

    api = settings.api_base_url(logged_in_config, "clients")
    answer = requests.get(
        f"{api}/clients",
        headers={"Authorization": f"Bearer {pair.access_token}", "X-DATEV-Client-Id": "ml-connector-demo"},
        timeout=10,
    )
    assert answer.status_code == 401
    metadata = fetch_metadata(logged_in_config, requests.Session(), timeout=10)
    refresh = requests.post(
        metadata.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": pair.refresh_token,
            "client_id": "ml-connector-demo",
        },
        timeout=10,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert logout(logged_in_config).had_tokens is False


def test_pasted_redirect_when_no_loopback(tap_config: dict[str, t.Any]) -> None:
    # An https redirect URI (as production requires): login prints the URL and reads the pasted one.
    config = {**tap_config, "redirect_uri": "https://connector.example.com/datev/callback"}
    pasted: list[str] = []

    def browser(url: str) -> None:
        answer = requests.get(url, allow_redirects=False, timeout=10)
        pasted.append(answer.headers["Location"])

    result = login(config, open_url=browser, read_redirect=lambda: pasted[0])
    assert "offline_access" in result.scopes
    with pytest.raises(DatevAPIError):
        DatevClient(config).request("GET", "clients", "/clients/0-0")


def test_denied_consent_is_reported(tap_config: dict[str, t.Any], datev_emulator: t.Any) -> None:
    datev_emulator.control.set_consent("deny")
    with pytest.raises(DatevAuthError, match="access_denied"):
        login(tap_config, open_url=consent_in_browser)
    assert TokenStore.from_config(tap_config).load() is None
