"""accounting-clients v2: GET /clients (filter, skip, top) and GET /clients/{client-id}."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.guard import authorize_call
from datev_emulator.oauth import OAuthServer
from datev_emulator.paging import Page, page_headers, parse_paging
from datev_emulator.responses import json_response, problem

SCOPE = "datev:accounting:clients"
FILTER_FIELDS = ("consultant_number", "client_number")
CLAUSE = re.compile(r"(\S+)\s+(\S+)\s+(\S+)")
MAX_NUMBER = 9_999_999_999


def client_view(client: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_number": client["client_number"],
        "consultant_number": client["consultant_number"],
        "id": client["id"],
        "name": client["name"],
        "services": client["services"],
    }


def sorted_clients(ctx: Context) -> list[dict[str, Any]]:
    with ctx.store.lock:
        clients = list(ctx.store.doc("datev").get("clients", {}).values())
    return sorted(clients, key=lambda c: (c["consultant_number"], c["client_number"]))


def parse_filter(text: str) -> dict[str, int] | tuple[str, str]:
    """Field → value, or (detail, affected element name) for a 1008828 error."""
    if re.search(r"\s(or|not)\s", f" {text.lower()} "):
        return ('The combination of filters is invalid. Supported logical operator "and"', "filter")
    result: dict[str, int] = {}
    for part in re.split(r"\s+and\s+", text.strip()):
        match = CLAUSE.fullmatch(part.strip())
        if not match:
            return ("Filter syntax is invalid", "filter")
        field, operator, raw = match.groups()
        if field not in FILTER_FIELDS:
            return (f"Filter parameters are invalid - {field} - is not supported", field)
        if operator != "eq":
            return (f'Filter operators are invalid - {field} - only supports the operator "eq"', field)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_NUMBER:
            return (
                f"Filter parameters are invalid - {field} - must be a positive integer from 1 to 9999999999",
                field,
            )
        result[field] = int(raw)
    return result


def invalid_query(detail: str, affected: list[dict[str, str]]) -> Response:
    return problem(400, "Invalid query parameters", detail, code=1008828, affected=affected)


class ClientsApi:
    def __init__(self, ctx: Context, oauth: OAuthServer) -> None:
        self.ctx = ctx
        self.oauth = oauth

    def list_clients(self, request: Request) -> Response:
        allowed = authorize_call(self.ctx, self.oauth, request, "problem", SCOPE)
        if isinstance(allowed, Response):
            return allowed
        page = parse_paging(request.args)
        if not isinstance(page, Page):
            return invalid_query("Paging parameters are invalid", page)
        clients = sorted_clients(self.ctx)
        raw_filter = request.args.get("filter")
        if raw_filter is not None:
            parsed = parse_filter(raw_filter)
            if isinstance(parsed, tuple):
                return invalid_query(parsed[0], [{"name": parsed[1], "reason": parsed[0]}])
            clients = [c for c in clients if all(c[k] == v for k, v in parsed.items())]
        window = clients[page.skip : page.skip + page.top]
        return json_response([client_view(c) for c in window], headers=page_headers(page, len(clients)))

    def get_client(self, request: Request, client_id: str) -> Response:
        allowed = authorize_call(self.ctx, self.oauth, request, "problem", SCOPE, client_id=client_id)
        if isinstance(allowed, Response):
            return allowed
        assert allowed.client is not None
        return json_response(client_view(allowed.client))
