"""The request counter benchmarks read (`GET /_emulator/requests`): requests per endpoint name, the
control API left out, unmatched paths and fault answers under their own names; DELETE zeroes it."""

from __future__ import annotations

import requests
from datev_emu_helpers import CLIENTS, Flow

from datev_emulator.server import RunningEmulator


def counts(emulator: RunningEmulator) -> dict[str, int]:
    response = requests.get(f"{emulator.url}/_emulator/requests", timeout=10)
    assert response.status_code == 200
    body: dict[str, int] = response.json()
    return body


def test_counts_each_endpoint_and_leaves_out_the_control_api(emulator: RunningEmulator) -> None:
    flow = Flow(emulator)
    tokens = flow.login()  # authorize, token
    for _ in range(2):
        assert flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"]).status_code == 200
    assert flow.api("GET", f"{CLIENTS}/clients/29098-55003", tokens["access_token"]).status_code == 200
    assert requests.get(f"{emulator.url}/no-such-path", timeout=10).status_code == 404
    emulator.control.arm_fault(status=503, count=1, path_prefix=CLIENTS)
    assert flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"]).status_code == 503
    requests.get(f"{emulator.url}/_emulator/clock", timeout=10)

    assert counts(emulator) == {
        "authorize": 1,
        "token": 1,
        "clients.list": 2,
        "clients.get": 1,
        "unmatched": 1,
        "fault": 1,
    }
    assert emulator.control.requests() == counts(emulator)


def test_delete_zeroes_the_counts(emulator: RunningEmulator) -> None:
    requests.get(f"{emulator.url}/certs", timeout=10)
    assert counts(emulator) == {"certs": 1}
    assert requests.delete(f"{emulator.url}/_emulator/requests", timeout=10).json() == {}
    requests.get(f"{emulator.url}/certs", timeout=10)
    assert counts(emulator) == {"certs": 1}
