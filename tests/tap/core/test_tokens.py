"""Token refresh ahead of expiry, 401 handling, rotation under the store lock, expiry → login again."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import typing as t

import pytest
import requests

from tap_datev import settings
from tap_datev.auth import TokenManager, fetch_metadata
from tap_datev.client import DatevClient
from tap_datev.errors import (
    DatevAPIError,
    DatevAuthError,
    LoginRequiredError,
    NotLoggedInError,
    SessionEndedError,
)
from tap_datev.tokens import TokenStore


def _stored(config: t.Mapping[str, t.Any]) -> t.Any:
    pair = TokenStore.from_config(config).load()
    assert pair is not None
    return pair


def _clients(client: DatevClient) -> list[dict[str, t.Any]]:
    return client.request("GET", "clients", "/clients", params={"top": 2}).json()


def test_refreshes_ahead_of_expiry(logged_in_config: dict[str, t.Any], emulator_control: t.Any) -> None:
    before = _stored(logged_in_config)
    client = DatevClient(logged_in_config)
    assert len(_clients(client)) == 2
    assert client.tokens.refresh_count == 0

    # 850 s later (emulator and tap alike): the access token still works at DATEV for 50 s, but
    # that is inside the 60 s skew, so the tap refreshes before using it, without any 401.
    emulator_control.advance(850)
    client.tokens.clock = lambda: time.time() + 850
    statuses: list[int] = []
    client.session.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
    assert len(_clients(client)) == 2
    assert client.tokens.refresh_count == 1
    assert 401 not in statuses
    after = _stored(logged_in_config)
    assert after.refresh_token != before.refresh_token  # rotated and persisted
    assert after.access_token != before.access_token


def test_401_refreshes_once_and_retries(logged_in_config: dict[str, t.Any], emulator_control: t.Any) -> None:
    client = DatevClient(logged_in_config)
    _clients(client)
    emulator_control.advance(1000)  # DATEV considers the token expired; the tap's clock does not
    statuses: list[int] = []
    client.session.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
    assert len(_clients(client)) == 2
    assert statuses == [401, 200]
    assert client.tokens.refresh_count == 1


def test_401_after_refresh_is_not_retried_again(logged_in_config: dict[str, t.Any]) -> None:
    client = DatevClient(logged_in_config)
    client.auth.client_id = "someone-else"  # every call is refused: header does not match the token
    statuses: list[int] = []
    client.session.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
    with pytest.raises(DatevAPIError) as error:
        _clients(client)
    assert error.value.status == 401
    assert statuses == [401, 401]
    assert client.tokens.refresh_count == 1


def test_reusing_a_refresh_token_kills_the_session(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    """What the lock prevents: someone redeems the stored refresh token behind the tap's back."""
    stored = _stored(logged_in_config)
    metadata = fetch_metadata(logged_in_config, requests.Session(), timeout=10)
    rogue = requests.post(
        metadata.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": stored.refresh_token,
            "client_id": "ml-connector-demo",
        },
        timeout=10,
    )
    assert rogue.status_code == 200
    rogue_access = rogue.json()["access_token"]

    client = DatevClient(logged_in_config)
    client.tokens.clock = lambda: time.time() + 2000  # needs a refresh: redeems the same token again
    with pytest.raises(LoginRequiredError, match="tap-datev:login"):
        _clients(client)
    # DATEV's rule: the whole session is gone, the rogue's fresh tokens too.
    answer = requests.get(
        settings.api_base_url(logged_in_config, "clients") + "/clients",
        headers={"Authorization": f"Bearer {rogue_access}", "X-DATEV-Client-Id": "ml-connector-demo"},
        timeout=10,
    )
    assert answer.status_code == 401


def test_concurrent_refreshes_redeem_the_token_once(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    """Two token managers (as in two processes) refresh at once: one redeems, the other adopts."""
    emulator_control.advance(1000)
    barrier = threading.Barrier(2)
    clients = [DatevClient(logged_in_config) for _ in range(2)]
    errors: list[BaseException] = []
    results: list[int] = []

    def run(client: DatevClient) -> None:
        client.tokens.clock = lambda: time.time() + 1000
        barrier.wait()
        try:
            results.append(len(_clients(client)))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert results == [2, 2]
    assert sorted(c.tokens.refresh_count for c in clients) == [0, 1]
    # The session is still alive: a later refresh works.
    later = DatevClient(logged_in_config)
    later.tokens.clock = lambda: time.time() + 3000
    emulator_control.advance(2000)
    assert len(_clients(later)) == 2


_REFRESH_IN_CHILD = """
import json, sys, time
from tap_datev.client import DatevClient
config = json.loads(sys.argv[1])
client = DatevClient(config)
client.tokens.clock = lambda: time.time() + 1000
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
rows = client.request("GET", "clients", "/clients", params={"top": 2}).json()
print(len(rows), client.tokens.refresh_count)
"""


def test_two_processes_refresh_without_reuse(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    import json

    emulator_control.advance(1000)
    start_at = str(time.time() + 1.0)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _REFRESH_IN_CHILD, json.dumps(logged_in_config), start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
    rows, refreshes = zip(*(out.split() for out, _ in outputs), strict=True)
    assert rows == ("2", "2")
    assert sorted(refreshes) == ["0", "1"]  # exactly one process redeemed the refresh token


def test_expired_refresh_token_asks_for_login(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Known expiry: the tap refuses before calling DATEV.
    client = DatevClient(logged_in_config)
    client.tokens.clock = lambda: time.time() + 3 * 365 * 24 * 3600
    with pytest.raises(LoginRequiredError, match="tap-datev:login"):
        _clients(client)

    # DATEV says so (the tap's clock does not know yet): invalid_grant → same advice.
    emulator_control.advance(3 * 365 * 24 * 3600)
    other = DatevClient(logged_in_config)
    other.tokens.clock = lambda: time.time() + 1000
    with (
        caplog.at_level(logging.INFO, logger="tap-datev.auth"),
        pytest.raises(LoginRequiredError, match="tap-datev:login"),
    ):
        _clients(other)
    assert "refresh token valid until" in caplog.text  # logged each run, as a date


def test_no_login_stored_says_login(tap_config: dict[str, t.Any]) -> None:
    with pytest.raises(LoginRequiredError, match="tap-datev:login"):
        TokenManager(tap_config).access_token()


def _ledger_only_sync(config: dict[str, t.Any]) -> None:
    import contextlib
    import io

    from tap_datev.tap import TapDatev

    tap = TapDatev(config=config)
    for name, stream in tap.streams.items():
        stream.selected = name == "documents"  # read from the ledger: no DATEV request at all
    with contextlib.redirect_stdout(io.StringIO()):
        tap.sync_all()


def test_every_run_logs_the_refresh_expiry_and_ends_when_expired(
    logged_in_config: dict[str, t.Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tap-datev.auth"):
        _ledger_only_sync(logged_in_config)
    assert "DATEV refresh token valid until" in caplog.text

    store = TokenStore.from_config(logged_in_config)
    pair = store.load()
    assert pair is not None
    store.save(type(pair)(**{**pair.to_dict(), "refresh_expires_at": time.time() - 60}))
    with pytest.raises(LoginRequiredError, match="tap-datev:login"):
        _ledger_only_sync(logged_in_config)


def test_a_ledger_only_run_needs_no_login(tap_config: dict[str, t.Any]) -> None:
    _ledger_only_sync(tap_config)  # no stored login: nothing to log, nothing refused


def _due_for_refresh(config: dict[str, t.Any], slept: list[float]) -> DatevClient:
    """A client whose clock says the stored access token is due: its next call refreshes."""
    client = DatevClient(config)
    client.tokens.clock = lambda: time.time() + 2000
    client.tokens.sleep = slept.append
    client.tokens.backoff.rand = lambda: 0.0
    return client


def test_token_endpoint_429_and_503_are_retried_like_the_apis(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    before = _stored(logged_in_config)
    emulator_control.fault(status=503, retry_after=1, count=1, path_prefix="/token")
    emulator_control.fault(status=429, retry_after=2, count=1, path_prefix="/token")
    slept: list[float] = []
    client = _due_for_refresh(logged_in_config, slept)
    assert len(_clients(client)) == 2
    assert slept == [1.0, 2.0]  # Retry-After honoured (no jitter with rand 0)
    assert client.tokens.refresh_count == 1
    # The refresh token was redeemed once: the session lives on and the new pair was stored.
    assert _stored(logged_in_config).refresh_token != before.refresh_token
    assert len(_clients(DatevClient(logged_in_config))) == 2


def test_token_endpoint_retries_stop_at_the_budget_and_keep_the_refresh_token(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    before = _stored(logged_in_config)
    emulator_control.fault(status=503, retry_after=2, count=50, path_prefix="/token")
    slept: list[float] = []
    client = _due_for_refresh(logged_in_config, slept)
    client.tokens.backoff.budget = 5
    with pytest.raises(DatevAuthError, match="HTTP 503") as error:
        _clients(client)
    assert "stays usable" in str(error.value)
    assert slept == [2.0, 2.0]
    assert _stored(logged_in_config).refresh_token == before.refresh_token


def test_token_endpoint_connection_refused_is_retried(logged_in_config: dict[str, t.Any]) -> None:
    """Refused before sending: resending cannot redeem the refresh token twice."""
    import dataclasses
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/token"
    slept: list[float] = []
    client = _due_for_refresh(logged_in_config, slept)
    client.tokens._metadata = dataclasses.replace(client.tokens.metadata, token_endpoint=dead)
    client.tokens.backoff.budget = 0.05
    with pytest.raises(DatevAuthError, match="refused"):
        _clients(client)
    assert slept == [0.005, 0.01, 0.02]  # equal jitter's lower bound with rand 0; then the budget


def test_a_refresh_answer_lost_after_sending_is_not_resent(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    """DATEV redeemed the refresh token, the answer never arrived: resending would revoke the session."""
    emulator_control.fault(kind="drop", count=1, path_prefix="/token")
    slept: list[float] = []
    with pytest.raises(DatevAuthError, match="single-use") as error:
        _clients(_due_for_refresh(logged_in_config, slept))
    assert not isinstance(error.value, LoginRequiredError)
    assert slept == []
    # The next run tries the stored refresh token once more; DATEV had redeemed it.
    with pytest.raises(SessionEndedError, match="already used") as ended:
        _clients(_due_for_refresh(logged_in_config, slept))
    assert "tap-datev:login" in str(ended.value)


def test_an_ended_session_says_why(logged_in_config: dict[str, t.Any], emulator_control: t.Any) -> None:
    # Revoked: e.g. a logout elsewhere or DATEV's user administration.
    metadata = fetch_metadata(logged_in_config, requests.Session(), timeout=10)
    revoked = requests.post(
        str(metadata.revocation_endpoint),
        data={
            "token": _stored(logged_in_config).refresh_token,
            "token_type_hint": "refresh_token",
            "client_id": "ml-connector-demo",
        },
        timeout=10,
    )
    assert revoked.status_code == 200
    with pytest.raises(SessionEndedError, match="The DATEV session ended: the session was revoked"):
        _clients(_due_for_refresh(logged_in_config, []))


def test_an_expired_session_says_it_expired(
    logged_in_config: dict[str, t.Any], emulator_control: t.Any
) -> None:
    emulator_control.advance(3 * 365 * 24 * 3600)
    client = DatevClient(logged_in_config)
    client.tokens.clock = lambda: time.time() + 2000  # the tap does not know the expiry yet
    with pytest.raises(SessionEndedError, match="The DATEV session ended: the refresh token expired"):
        _clients(client)


def test_no_login_yet_says_how_to_log_in(tap_config: dict[str, t.Any]) -> None:
    with pytest.raises(NotLoggedInError, match=r"Not logged in to DATEV yet .* tap-datev:login"):
        DatevClient(tap_config).prove_session()
