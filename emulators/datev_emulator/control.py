"""Emulator-only control surface (not DATEV's): clock, faults, OAuth clients, extra DATEV clients, consent."""

from __future__ import annotations

import json
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from datev_emulator.clock import Clock
from datev_emulator.context import Context
from datev_emulator.faults import Fault, FaultBoard, parse_fault
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

    def set_job_delays(self, extf_seconds: float | None = None, dxso_seconds: float | None = None) -> None:
        if extf_seconds is not None:
            self._set("extf_delay_seconds", float(extf_seconds))
        if dxso_seconds is not None:
            self._set("dxso_delay_seconds", float(dxso_seconds))

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
                control.set_job_delays(body.get("extf_delay_seconds"), body.get("dxso_delay_seconds"))
            settings = control.settings()
            return json_response(
                {k: v for k, v in settings.items() if k != "clock_offset"}, content_type=JSON
            )
        if name == "health":
            return json_response({"status": "ok"}, content_type=JSON)
        return json_response({"error": "not_found"}, 404, content_type=JSON)
