"""The demo dataset written into an empty data directory, and helpers that add to it."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Any

from datev_emulator.advisor import seed_ledger
from datev_emulator.store import Store

SERVICE_EXTF = {"name": "Buchungsdatenservice", "scopes": ["datev:accounting:extf-files-import"]}
SERVICE_DOCUMENTS = {"name": "Belegbilderservice", "scopes": ["accounting:documents"]}
SERVICE_DXSO = {"name": "Rechnungsdatenservice 1.0", "scopes": ["accounting:dxso-jobs"]}
SERVICE_ADE = {"name": "Datenservice Export Rechnungswesen", "scopes": ["datev:accounting:exchange"]}

DEMO_SECRET = "emulator-secret-not-for-production"
FILLER_CONSULTANT = 29099  # consultant of the opt-in filler clients (`seed_if_empty(..., fillers=N)`)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _fiscal_years(start_month: int, years: list[int], chart: int = 3) -> list[dict[str, Any]]:
    """Fiscal years starting in `start_month`, books kept in DATEV's SKR `chart` (3 = SKR03, 4 = SKR04)."""
    out = []
    for year in years:
        first = date(year, start_month, 1)
        last = date(year + 1, start_month, 1) - timedelta(days=1)
        start, end = first.isoformat(), last.isoformat()
        out.append(
            {
                "fiscal_year_start": start,
                "fiscal_year_end": end,
                "account_length": 4,
                "datev_chart_of_accounts": chart,
                "ledgers": {
                    "is_accounts_payable_ledger_available": True,
                    "is_accounts_receivable_ledger_available": True,
                    "is_cash_ledger_available": True,
                },
            }
        )
    return out


def _document_types(extra: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    types = [
        {"name": "Rechnungseingang", "category": "invoices_received", "debit_credit_identifier": "debit"},
        {"name": "Rechnungsausgang", "category": "outgoing_invoices", "debit_credit_identifier": "credit"},
        {"name": "Kasse", "category": "other_documents"},
        {"name": "Sonstige", "category": "other_documents"},
    ]
    return types + [{k: _nfc(v) for k, v in t.items()} for t in extra or []]


def make_client(
    consultant: int,
    client: int,
    name: str,
    *,
    services: list[dict[str, Any]],
    fiscal_years: list[dict[str, Any]],
    document_types: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "id": f"{consultant}-{client}",
        "consultant_number": consultant,
        "client_number": client,
        "name": _nfc(name),
        "services": services,
        "is_document_management_available": True,
        "basic_accounting_information": fiscal_years,
        "document_types": document_types,
    }


def demo_clients() -> list[dict[str, Any]]:
    """Three legal entities of one manufacturing group under consultant 29098.

    Lindner Maschinenbau (29098-55003, the client of DATEV's own sample files) has the fiscal year
    2024 too: DATEV's Musterdaten Buchungsstapel books into it, and DATEV refuses an import into a
    fiscal year the client does not have."""
    calendar = _fiscal_years(1, [2025, 2026])
    return [
        make_client(
            29098,
            55003,
            "Lindner Maschinenbau GmbH",
            services=[SERVICE_DOCUMENTS, SERVICE_EXTF, SERVICE_DXSO, SERVICE_ADE],
            fiscal_years=_fiscal_years(1, [2024, 2025, 2026]),
            document_types=_document_types(
                [{"name": "Bürobedarf", "category": "invoices_received", "debit_credit_identifier": "debit"}]
            ),
        ),
        make_client(
            29098,
            55004,
            "Lindner Antriebstechnik GmbH",
            services=[SERVICE_DOCUMENTS, SERVICE_EXTF, SERVICE_DXSO, SERVICE_ADE],
            fiscal_years=_fiscal_years(7, [2024, 2025], chart=4),  # SKR04, fiscal year from 1 July
            document_types=_document_types(
                [
                    {
                        "name": "Gutschrift Kunde",
                        "category": "outgoing_invoices",
                        "debit_credit_identifier": "debit",
                    }
                ]
            ),
        ),
        make_client(
            29098,
            55005,
            "Lindner Service GmbH",
            services=[SERVICE_DOCUMENTS, SERVICE_EXTF],  # no Rechnungsdatenservice 1.0 on purpose
            fiscal_years=calendar,
            document_types=_document_types(
                [{"name": "Reisekosten Geschäftsführung", "category": "travel_expense_documents"}]
            ),
        ),
    ]


def filler_clients(consultant: int, count: int, first_client: int = 10001) -> list[dict[str, Any]]:
    """Plain clients that exist so paging over skip/top=100 has several pages."""
    calendar = _fiscal_years(1, [2024, 2025, 2026])
    return [
        make_client(
            consultant,
            first_client + i,
            f"Testmandant {consultant}-{first_client + i} GmbH",
            services=[SERVICE_EXTF],
            fiscal_years=calendar,
            document_types=_document_types(),
        )
        for i in range(count)
    ]


def oauth_clients() -> dict[str, dict[str, Any]]:
    return {
        "ml-connector-demo": {
            "client_id": "ml-connector-demo",
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["https://connector.example.com/datev/callback"],
            "display_name": "ml-connector (demo)",
            "vendor": "ml-connector",
        },
        "ml-connector-confidential": {
            "client_id": "ml-connector-confidential",
            "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": DEMO_SECRET,
            "redirect_uris": ["https://connector.example.com/datev/callback"],
            "display_name": "ml-connector",
            "vendor": "ml-connector",
        },
    }


def seed_if_empty(store: Store, fillers: int = 0) -> None:
    """Seed what the data directory lacks: the demo clients (plus `fillers` plain clients of
    consultant 29099, for paging), the OAuth registry and the default settings."""
    with store.lock:
        if not store.exists("datev"):
            datev = store.doc("datev")
            clients = demo_clients() + filler_clients(FILLER_CONSULTANT, fillers)
            datev["clients"] = {c["id"]: c for c in clients}
            store.save("datev")
        if not store.exists("ledger"):
            store.doc("ledger").update(seed_ledger(list(store.doc("datev")["clients"].values())))
            store.save("ledger")
        if not store.exists("registry"):
            store.doc("registry")["oauth_clients"] = oauth_clients()
            store.save("registry")
        settings = store.doc("settings")
        settings.setdefault("clock_offset", 0.0)
        settings.setdefault("consent", "allow")
        settings.setdefault("extf_delay_seconds", 5)
        settings.setdefault("dxso_delay_seconds", 5)
        settings.setdefault("ade_delay_seconds", 5)
        settings.setdefault("ade_failing_jobs", 0)
        store.save("settings")
