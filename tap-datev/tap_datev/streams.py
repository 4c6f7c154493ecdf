"""Streams read from DATEV's APIs: clients (Mandanten) and their document types."""

from __future__ import annotations

import json
import typing as t
from importlib import resources

from tap_datev import settings
from tap_datev.client import DatevStream, PagedDatevStream
from tap_datev.errors import DatevAPIError
from tap_datev.settings import CLIENTS_READ_SCOPE, CLIENTS_SCOPE, DOCUMENTS_SCOPE

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def load_schema(name: str) -> dict[str, t.Any]:
    text = resources.files("tap_datev").joinpath("schemas", f"{name}.json").read_text("utf-8")
    schema: dict[str, t.Any] = json.loads(text)
    return schema


def _date(value: object) -> str | None:
    # DATEV documents the field as a date but its examples carry a time ("2016-01-01T00:00:00.000+0000").
    return str(value)[:10] if value else None


def accounting_basics(body: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Flatten the documents API's ClientBasics into the clients record's columns."""
    years = []
    for info in body.get("basic_accounting_information") or []:
        ledgers = info.get("ledgers") or {}
        years.append(
            {
                "fiscal_year_start": _date(info.get("fiscal_year_start")),
                "fiscal_year_end": _date(info.get("fiscal_year_end")),
                "account_length": info.get("account_length"),
                "datev_chart_of_accounts": info.get("datev_chart_of_accounts"),
                "is_accounts_payable_ledger_available": ledgers.get("is_accounts_payable_ledger_available"),
                "is_accounts_receivable_ledger_available": ledgers.get(
                    "is_accounts_receivable_ledger_available"
                ),
                "is_cash_ledger_available": ledgers.get("is_cash_ledger_available"),
            }
        )
    years.sort(key=lambda y: y["fiscal_year_start"] or "")
    latest = years[-1] if years else {}
    return {
        "is_document_management_available": body.get("is_document_management_available"),
        "account_length": latest.get("account_length"),
        "datev_chart_of_accounts": latest.get("datev_chart_of_accounts"),
        "fiscal_years": years,
    }


_NO_BASICS = {
    "is_document_management_available": None,
    "account_length": None,
    "datev_chart_of_accounts": None,
    "fiscal_years": None,
}


class ClientsStream(PagedDatevStream):
    """All DATEV clients the user can access (accounting-clients v2 `GET /clients`), full table.

    Each record also carries the client's accounting basics from the documents API when its
    scope was granted. Parent of every per-client stream (context `{"client_id": ...}`).
    """

    name = "clients"
    api = "clients"
    path = "/clients"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = None
    scopes: t.ClassVar[tuple[str, ...]] = (CLIENTS_SCOPE,)
    schema = load_schema("clients")

    _basics_note_logged = False

    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        wanted = settings.client_ids(self.config)
        if wanted is not None and row.get("id") not in wanted:
            return None
        services = row.get("services") or []
        self.datev.client_service_scopes[str(row["id"])] = frozenset(
            scope for service in services for scope in (service.get("scopes") or [])
        )
        return {
            "id": row["id"],
            "consultant_number": row.get("consultant_number"),
            "client_number": row.get("client_number"),
            "name": row.get("name"),
            "services": [{"name": s.get("name"), "scopes": s.get("scopes") or []} for s in services],
            **self._basics(str(row["id"])),
        }

    def _basics(self, client_id: str) -> dict[str, t.Any]:
        if CLIENTS_READ_SCOPE not in self.datev.granted_scopes:
            if not self._basics_note_logged:
                self.logger.info(
                    "Scope %s not granted: clients' accounting basics (chart of accounts, account "
                    "length, fiscal years) stay empty",
                    CLIENTS_READ_SCOPE,
                )
                self._basics_note_logged = True
            return dict(_NO_BASICS)
        try:
            response = self.datev.request("GET", "documents", f"/clients/{client_id}")
        except DatevAPIError as exc:
            if exc.status not in {403, 404}:
                raise
            self.logger.info("No accounting basics for client %s: %s", client_id, exc)
            return dict(_NO_BASICS)
        return accounting_basics(response.json())

    def get_child_context(self, record: dict[str, t.Any], context: Context | None) -> dict[str, t.Any]:
        return {"client_id": record["id"]}


class DocumentTypesStream(DatevStream):
    """Document types (Belegtypen) of each client: documents API `GET /clients/{id}/document-types`."""

    name = "document_types"
    api = "documents"
    path = "/clients/{client_id}/document-types"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "name"]
    replication_key = None
    parent_stream_type = ClientsStream
    scopes: t.ClassVar[tuple[str, ...]] = (CLIENTS_READ_SCOPE, DOCUMENTS_SCOPE)
    client_service_scope = DOCUMENTS_SCOPE
    # Full table: one stream-level state instead of a growing list of per-client partitions.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema = load_schema("document_types")

    def post_process(self, row: dict[str, t.Any], context: Context | None = None) -> dict[str, t.Any] | None:
        return {
            "client_id": (context or {}).get("client_id"),
            "name": row.get("name"),
            "category": row.get("category"),
            "debit_credit_identifier": row.get("debit_credit_identifier"),
        }


STREAMS: list[type[DatevStream]] = [ClientsStream, DocumentTypesStream]
