"""Emulator-only control surface (not DATEV's): clock, faults, OAuth clients, extra DATEV clients, consent."""

from __future__ import annotations

import copy
import json
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from datev_emulator.advisor import change_posting
from datev_emulator.clock import Clock
from datev_emulator.context import Context
from datev_emulator.faults import Fault, FaultBoard, parse_fault
from datev_emulator.ledger import FiscalYear, Ledger, fiscal_years
from datev_emulator.oauth import MAX_CLIENT_ID
from datev_emulator.responses import JSON, json_response
from datev_emulator.seed import filler_clients

AUTH_METHODS = ("none", "client_secret_basic")


class Control:
    """The same operations as the HTTP control API, for in-process use (`RunningEmulator.control`)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def clock(self) -> Clock:
        return self._ctx.clock

    @property
    def faults(self) -> FaultBoard:
        return self._ctx.faults

    def advance(self, seconds: float) -> float:
        return self._ctx.clock.advance(seconds)

    def set_now(self, epoch: float) -> float:
        return self._ctx.clock.set(epoch)

    def arm_fault(
        self,
        *,
        kind: str = "status",
        status: int = 503,
        count: int = 1,
        retry_after: int | Literal["default"] | None = "default",
        method: str | None = None,
        path_prefix: str = "/",
    ) -> Fault:
        """`retry_after`: seconds for the Retry-After header, None for no header, "default" for 1 s on
        429/503 (none on 500)."""
        spec: dict[str, Any] = {"kind": kind, "status": status, "count": count}
        spec.update({"method": method, "path_prefix": path_prefix})
        if retry_after != "default":
            spec["retry_after"] = retry_after
        return self._ctx.faults.arm(parse_fault(spec))

    def clear_faults(self) -> None:
        self._ctx.faults.clear()

    def register_oauth_client(
        self,
        client_id: str,
        *,
        token_endpoint_auth_method: str = "none",
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        display_name: str | None = None,
        vendor: str | None = None,
    ) -> dict[str, Any]:
        if not client_id or len(client_id) > MAX_CLIENT_ID:
            raise ValueError(f"client_id must be 1..{MAX_CLIENT_ID} characters")
        if token_endpoint_auth_method not in AUTH_METHODS:
            raise ValueError(f"token_endpoint_auth_method must be one of {AUTH_METHODS}")
        if token_endpoint_auth_method == "client_secret_basic" and not client_secret:
            raise ValueError("a confidential client needs client_secret")
        entry: dict[str, Any] = {
            "client_id": client_id,
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "redirect_uris": list(redirect_uris or []),
            "display_name": display_name or client_id,
            "vendor": vendor or "unknown",
        }
        if token_endpoint_auth_method == "client_secret_basic":
            entry["client_secret"] = client_secret
        with self._ctx.store.lock:
            self._ctx.store.doc("registry").setdefault("oauth_clients", {})[client_id] = entry
            self._ctx.store.save("registry")
        return {k: v for k, v in entry.items() if k != "client_secret"}

    def add_clients(self, count: int, consultant_number: int = 29100) -> list[str]:
        """Add `count` plain DATEV clients (with Buchungsdatenservice) under one consultant."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._ctx.store.lock:
            clients = self._ctx.store.doc("datev").setdefault("clients", {})
            taken = [
                c["client_number"] for c in clients.values() if c["consultant_number"] == consultant_number
            ]
            first = max(taken, default=10000) + 1
            added = filler_clients(consultant_number, count, first_client=first)
            for client in added:
                clients[client["id"]] = client
            self._ctx.store.save("datev")
        return [c["id"] for c in added]

    def set_consent(self, mode: str) -> None:
        """`allow`: the test user consents at once; `deny`: authorize answers error=access_denied."""
        if mode not in ("allow", "deny"):
            raise ValueError("consent mode must be allow or deny")
        self._set("consent", mode)

    def set_job_delays(
        self,
        extf_seconds: float | None = None,
        dxso_seconds: float | None = None,
        ade_seconds: float | None = None,
    ) -> None:
        if extf_seconds is not None:
            self._set("extf_delay_seconds", float(extf_seconds))
        if dxso_seconds is not None:
            self._set("dxso_delay_seconds", float(dxso_seconds))
        if ade_seconds is not None:
            self._set("ade_delay_seconds", float(ade_seconds))

    def fail_account_postings_jobs(self, count: int = 1) -> None:
        """The next `count` account-postings jobs end FAILED instead of COMPLETED."""
        if count < 0:
            raise ValueError("count must be >= 0")
        self._set("ade_failing_jobs", int(count))

    # -- the advisor's bookings (what the Accounting Data Exchange API reads besides the EXTF batches) --
    def _fiscal_year(self, client_id: str, fiscal_year: int) -> FiscalYear:
        client = self._ctx.store.doc("datev").get("clients", {}).get(client_id)
        if client is None:
            raise ValueError(f"unknown client {client_id}")
        year = next((y for y in fiscal_years(client) if y.id == int(fiscal_year)), None)
        if year is None:
            raise ValueError(f"client {client_id} has no fiscal year {fiscal_year}")
        return year

    def _advisor_year(self, client_id: str, fiscal_year: int) -> list[dict[str, Any]]:
        return Ledger(self._ctx).advisor_sequences(client_id, self._fiscal_year(client_id, fiscal_year))

    def advisor_sequences(self, client_id: str, fiscal_year: int) -> list[dict[str, Any]]:
        """The advisor's sequences of a fiscal year with their postings (each with its `posting_id`)."""
        with self._ctx.store.lock:
            return copy.deepcopy(self._advisor_year(client_id, fiscal_year))

    def change_advisor_posting(
        self, client_id: str, fiscal_year: int, posting_id: str, changes: dict[str, Any] | None
    ) -> None:
        """Change (or, with `changes=None`, delete) a posting the advisor has not committed yet."""
        with self._ctx.store.lock:
            for sequence in self._advisor_year(client_id, fiscal_year):
                for posting in sequence["postings"]:
                    if posting["posting_id"] != posting_id:
                        continue
                    if sequence["isCommitted"]:
                        number = sequence["accountingSequenceId"]
                        raise ValueError(
                            f"posting {posting_id} is in committed sequence {number}:"
                            " DATEV allows no change to committed postings"
                        )
                    if changes is None:
                        sequence["postings"].remove(posting)
                    else:
                        change_posting(posting, changes)
                    self._ctx.store.save("ledger")
                    return
        raise ValueError(f"no advisor posting {posting_id} in {client_id} fiscal year {fiscal_year}")

    def add_advisor_postings(
        self, client_id: str, fiscal_year: int, count: int, committed: bool = False
    ) -> int:
        """A new advisor sequence of `count` generated postings (made on read, never stored); its id."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._ctx.store.lock:
            year = self._fiscal_year(client_id, fiscal_year)
            sequences = Ledger(self._ctx).advisor_sequences(client_id, year)
            number = max((s["accountingSequenceId"] for s in sequences), default=0) + 1
            sequences.append(
                {
                    "accountingSequenceId": number,
                    "accountingSequenceNumber": str(number),
                    "dateFrom": year.begin.isoformat(),
                    "dateTo": year.end.isoformat(),
                    "initials": "SB",
                    "markOfOrigin": "SB",
                    "isCommitted": committed,
                    "recordType": "financial_accounting",
                    "accountingReason": "independent_from_accounting_reason",
                    "inspectionStatus": "not_specified",
                    "postings": [],
                    "generated": count,
                }
            )
            self._ctx.store.save("ledger")
        return number

    def requests(self) -> dict[str, int]:
        """Requests received per endpoint name since the start or the last `reset_requests`."""
        return self._ctx.requests.snapshot()

    def reset_requests(self) -> None:
        self._ctx.requests.reset()

    def settings(self) -> dict[str, Any]:
        with self._ctx.store.lock:
            return dict(self._ctx.store.doc("settings"))

    def _set(self, key: str, value: Any) -> None:
        with self._ctx.store.lock:
            self._ctx.store.doc("settings")[key] = value
            self._ctx.store.save("settings")


def _bad(message: str) -> Response:
    return json_response({"error": "bad_request", "error_description": message}, 400, content_type=JSON)


def _body(request: Request) -> dict[str, Any]:
    data = json.loads(request.get_data() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


class ControlApi:
    """HTTP form of `Control` under /_emulator/..."""

    def __init__(self, control: Control) -> None:
        self.control = control

    def _advisor(self, method: str, body: dict[str, Any]) -> Response:
        if method != "POST":
            return _bad("POST {client_id, fiscal_year, ...}: list, posting_id + changes/delete, or generate")
        client_id, year = str(body["client_id"]), int(body["fiscal_year"])
        if "generate" in body:
            number = self.control.add_advisor_postings(
                client_id, year, int(body["generate"]), bool(body.get("committed", False))
            )
            return json_response({"accountingSequenceId": number}, 201, content_type=JSON)
        if "posting_id" in body:
            changes = None if body.get("delete") else dict(body["changes"])
            self.control.change_advisor_posting(client_id, year, str(body["posting_id"]), changes)
        return json_response(self.control.advisor_sequences(client_id, year), content_type=JSON)

    def handle(self, request: Request, name: str) -> Response:
        try:
            body = _body(request) if request.method in ("POST", "PUT") else {}
            return self._dispatch(request.method, name, body)
        except (ValueError, TypeError, KeyError) as exc:
            return _bad(str(exc))

    def _dispatch(self, method: str, name: str, body: dict[str, Any]) -> Response:
        control = self.control
        if name == "clock":
            if method == "POST":
                if "now" in body:
                    control.set_now(float(body["now"]))
                else:
                    control.advance(float(body.get("advance_seconds", 0)))
            clock: dict[str, Any] = {"now": control.clock.now(), "offset_seconds": control.clock.offset}
            warning = control.clock.skew_warning()
            if warning:
                clock["warning"] = warning
            return json_response(clock, content_type=JSON)
        if name == "faults":
            if method == "POST":
                fault = control.arm_fault(**{k: body[k] for k in body if k != "id"})
                return json_response({"id": fault.id}, 201, content_type=JSON)
            if method == "DELETE":
                control.clear_faults()
            return json_response(control.faults.list(), content_type=JSON)
        if name == "oauth-clients" and method == "POST":
            return json_response(control.register_oauth_client(**body), 201, content_type=JSON)
        if name == "clients" and method == "POST":
            ids = control.add_clients(int(body.get("count", 1)), int(body.get("consultant_number", 29100)))
            return json_response({"added": ids}, 201, content_type=JSON)
        if name == "consent":
            if method == "POST":
                control.set_consent(str(body.get("mode")))
            return json_response({"mode": control.settings().get("consent")}, content_type=JSON)
        if name == "settings":
            if method == "POST":
                control.set_job_delays(
                    body.get("extf_delay_seconds"),
                    body.get("dxso_delay_seconds"),
                    body.get("ade_delay_seconds"),
                )
                if "ade_failing_jobs" in body:
                    control.fail_account_postings_jobs(int(body["ade_failing_jobs"]))
            settings = control.settings()
            return json_response(
                {k: v for k, v in settings.items() if k != "clock_offset"}, content_type=JSON
            )
        if name == "advisor-postings":
            return self._advisor(method, body)
        if name == "requests":
            if method == "DELETE":
                control.reset_requests()
            return json_response(control.requests(), content_type=JSON)
        if name == "health":
            return json_response({"status": "ok"}, content_type=JSON)
        return json_response({"error": "not_found"}, 404, content_type=JSON)
