"""DXSO LedgerImport XML -> booking_lines records (same shape as EXTF, kind "dxso")."""

from __future__ import annotations

import json
import typing as t
import unicodedata
from decimal import Decimal

import pytest

from tap_datev import dxso

NS_V060 = "http://xml.datev.de/bedi/tps/ledger/v060"


def ledger_xml(ledgers: str, *, namespace: str = NS_V060, currency: str = "EUR") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<LedgerImport xmlns="{namespace}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    version="6.0" generator_info="ml-connector tests" generating_system="pytest"
    xml_data="Kopie nur zur Verbuchung berechtigt nicht zum Vorsteuerabzug">
  <consolidate consolidatedAmount="119.00" consolidatedDate="2025-03-14"
      consolidatedInvoiceId="RE-2025-17" consolidatedCurrencyCode="{currency}">
{ledgers}
  </consolidate>
</LedgerImport>
""".encode()


PAYABLE = """    <accountsPayableLedger>
      <date>2025-03-14</date>
      <amount>119.00</amount>
      <accountNo>4930</accountNo>
      <buCode>9</buCode>
      <currencyCode>EUR</currencyCode>
      <invoiceId>RE-2025-17</invoiceId>
      <bookingText>Bu\u0308robedarf &amp; Papier</bookingText>
      <dueDate>2025-04-13</dueDate>
      <bpAccountNo>70001</bpAccountNo>
      <supplierName>Papier Müller GmbH</supplierName>
      <supplierCity>Nürnberg</supplierCity>
    </accountsPayableLedger>"""

CREDIT_NOTE = """    <accountsPayableLedger>
      <date>2025-03-20</date>
      <amount>-23.80</amount>
      <accountNo>4930</accountNo>
      <currencyCode>EUR</currencyCode>
      <invoiceId>GS-4</invoiceId>
      <bpAccountNo>70001</bpAccountNo>
    </accountsPayableLedger>"""

RECEIVABLE_USD = """    <accountsReceivableLedger>
      <date>2025-03-02</date>
      <amount>250.00</amount>
      <accountNo>8120</accountNo>
      <currencyCode>USD</currencyCode>
      <exchangeRate>1.0850</exchangeRate>
      <invoiceId>AR-9</invoiceId>
      <bpAccountNo>10007</bpAccountNo>
      <customerName>Acme Inc.</customerName>
      <costCategoryId>KST100</costCategoryId>
      <information>per e-mail</information>
    </accountsReceivableLedger>"""


def parse(data: bytes, **kwargs: t.Any) -> tuple[list[dxso.DxsoLine], list[dict[str, t.Any]], list[str]]:
    lines = dxso.read_ledger_xml(data, "ledger_RE-2025-17.xml")
    warnings: list[str] = []
    records = list(
        dxso.booking_lines(
            lines,
            client_id="29098-55003",
            batch_id="6f1c1b9e-0000-4000-8000-000000000001",
            job_id="dxso-job-1",
            job_result="2",
            warnings=warnings,
            **kwargs,
        )
    )
    return lines, records, warnings


def test_payable_line(validate: t.Any) -> None:
    lines, (rec,), warnings = parse(ledger_xml(PAYABLE), labels={"4930": "Bürobedarf"})
    assert warnings == []
    (line,) = lines
    assert (line.ledger, line.line_number, line.namespace) == ("accountsPayableLedger", 7, NS_V060)
    assert line.consolidate["consolidatedInvoiceId"] == "RE-2025-17"
    assert (rec["kind"], rec["client_id"], rec["job_id"], rec["job_result"]) == (
        "dxso",
        "29098-55003",
        "dxso-job-1",
        "2",
    )
    assert (rec["konto"], rec["gegenkonto"], rec["bu_schluessel"], rec["belegfeld_1"]) == (
        4930,
        70001,
        "9",
        "RE-2025-17",
    )
    assert (rec["booking_date"], rec["belegdatum"], rec["faelligkeit"]) == (
        "2025-03-14",
        "1403",
        "2025-04-13",
    )
    # an incoming invoice debits the expense account against the creditor
    assert (rec["umsatz"], rec["debit_credit"], rec["soll_haben_kennzeichen"]) == ("119.00", "S", "S")
    assert (rec["account_amount"], rec["contra_account_amount"]) == ("119.00", "-119.00")
    assert (rec["account_amount_eur"], rec["contra_account_amount_eur"]) == ("119.00", "-119.00")
    assert rec["buchungstext"] == "Bürobedarf & Papier"
    assert unicodedata.is_normalized("NFC", rec["buchungstext"])
    assert (rec["partner_name"], rec["account_label"], rec["contra_account_label"]) == (
        "Papier Müller GmbH",
        "Bürobedarf",
        None,
    )
    assert json.loads(rec["extra"]) == {
        "ledger": "accountsPayableLedger",
        "file": "ledger_RE-2025-17.xml",
        "supplierCity": "Nürnberg",
    }
    assert rec["line_number"] == 7
    validate("booking_lines", [rec])


def test_credit_note_and_foreign_currency_receivable(validate: t.Any) -> None:
    _, records, warnings = parse(ledger_xml("\n".join([PAYABLE, CREDIT_NOTE, RECEIVABLE_USD])))
    assert warnings == []
    _, note, sale = records
    assert (note["amount"], note["debit_credit"], note["account_amount"]) == ("23.80", "H", "-23.80")
    # revenue is credited; EUR = 250.00 / 1.085 = 230.414... -> 230.41
    assert (sale["currency"], sale["kurs"], sale["debit_credit"]) == ("USD", "1.085000", "H")
    assert (sale["account_amount"], sale["account_amount_eur"], sale["contra_account_amount_eur"]) == (
        "-250.00",
        "-230.41",
        "230.41",
    )
    assert (sale["partner_name"], sale["kost1_kostenstelle"]) == ("Acme Inc.", "KST100")
    assert json.loads(sale["extra"]) == {
        "ledger": "accountsReceivableLedger",
        "file": "ledger_RE-2025-17.xml",
        "information": "per e-mail",
    }
    spend_4930 = sum(Decimal(r["account_amount_eur"]) for r in records if r["konto"] == 4930)
    assert spend_4930 == Decimal("95.20")
    assert validate("booking_lines", records) == 3


@pytest.mark.parametrize("version", ["v040", "v050", "v060"])
def test_namespaces(version: str) -> None:
    lines = dxso.read_ledger_xml(
        ledger_xml(PAYABLE, namespace=f"http://xml.datev.de/bedi/tps/ledger/{version}")
    )
    assert len(lines) == 1 and lines[0].values["accountNo"] == "4930"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (ledger_xml(PAYABLE, namespace="urn:other"), "root element"),
        (b"<LedgerImport", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', "DOCTYPE"),
        (b"", "not well-formed"),
    ],
)
def test_unreadable_xml(data: bytes, words: str) -> None:
    with pytest.raises(dxso.DxsoError, match=words) as info:
        dxso.read_ledger_xml(data, "ledger.xml")
    assert str(info.value).startswith("ledger.xml")


def test_bad_values_become_null_with_a_warning() -> None:
    bad = PAYABLE.replace("119.00", "1l9.00").replace("2025-03-14", "14.03.2025")
    _, (rec,), warnings = parse(ledger_xml(bad))
    assert (rec["amount"], rec["account_amount"], rec["booking_date"]) == (None, None, None)
    assert any("line 7, field 'amount'" in w for w in warnings)
    assert any("line 7, field 'date'" in w for w in warnings)


def test_line_base_keeps_keys_unique_across_ledger_files() -> None:
    first = dxso.read_ledger_xml(ledger_xml(PAYABLE), "a.xml")
    second = dxso.read_ledger_xml(ledger_xml(PAYABLE), "b.xml")
    common = {"client_id": "c", "batch_id": "b", "job_id": None, "job_result": None}
    numbers = [
        r["line_number"]
        for i, lines in enumerate((first, second))
        for r in dxso.booking_lines(lines, line_base=i * 1_000_000, **common)
    ]
    assert numbers == [7, 1_000_007]
