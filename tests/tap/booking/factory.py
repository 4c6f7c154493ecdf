"""Test inputs built here (never copied from ../shared): a v13 Buchungsstapel and a DXSO package."""

from __future__ import annotations

from dataclasses import dataclass

from tap_datev.extf_columns import columns_for

CLIENT_ID = "29098-55003"


@dataclass(frozen=True)
class Booking:
    amount: str  # "119,00"
    debit_credit: str  # S / H
    account: int
    contra_account: int
    ttmm: str  # Belegdatum
    document_no: str
    text: str


BOOKINGS = (
    Booking("119,00", "S", 1200, 8400, "1503", "RE1001", "Rechnung 1001 Müller"),
    Booking("50,00", "H", 1200, 4930, "1603", "K77", "Bürobedarf"),
    Booking("1234,56", "S", 10000, 8400, "2003", "RE1002", "Rechnung 1002"),
)


def _text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def buchungsstapel(
    bookings: tuple[Booking, ...] = BOOKINGS,
    *,
    consultant: int = 29098,
    client: int = 55003,
    label: str = "Maerz 2026",
    created: str = "20260401120000000",
    fiscal_year_start: str = "20260101",
    account_length: int = 4,
    encoding: str = "cp1252",
    newline: str = "\r\n",
    bom: bytes = b"",
) -> bytes:
    """A valid EXTF 700 / category 21 / format version 13 file: CP1252, CRLF, 125 columns (by
    default; the spelling can be changed, e.g. UTF-8 with `bom`, LF line ends)."""
    header = [
        '"EXTF"',
        "700",
        "21",
        '"Buchungsstapel"',
        "13",
        created,
        "",
        '"RE"',
        '"tests"',
        '""',
        str(consultant),
        str(client),
        fiscal_year_start,
        str(account_length),
        "20260301",
        "20260331",
        _text(label),
        '""',
        "1",
        "0",
        "0",
        '"EUR"',
        "",
        '""',
        "",
        "",
        '"03"',
        "",
        "",
        '""',
        '""',
    ]
    columns = columns_for(21, 13)
    assert columns is not None and len(header) == 31
    names = ";".join(c.name for c in columns)
    rows = []
    for b in bookings:
        values = {
            "umsatz": b.amount,
            "soll_haben_kennzeichen": _text(b.debit_credit),
            "wkz_umsatz": _text("EUR"),
            "konto": str(b.account),
            "gegenkonto": str(b.contra_account),
            "belegdatum": b.ttmm,
            "belegfeld_1": _text(b.document_no),
            "buchungstext": _text(b.text),
            "festschreibung": "0",
        }
        rows.append(";".join(values.get(c.field, '""' if c.kind == "text" else "") for c in columns))
    text = newline.join([";".join(header), names, *rows]) + newline
    return bom + text.encode(encoding)


DOCUMENT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<archive xmlns="http://xml.datev.de/bedi/tps/document/v06.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  version="6.0" generatingSystem="ml-connector tests">
  <header><date>2026-03-31T10:00:00</date></header>
  <content>
    <document>
      <extension xsi:type="accountsPayableLedger" datafile="Rechnung_4711.xml">
        <property key="1" value="2026"/>
        <property key="3" value="Eingangsrechnungen"/>
      </extension>
    </document>
  </content>
</archive>
"""

LEDGER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<LedgerImport xmlns="http://xml.datev.de/bedi/tps/ledger/v060" version="6.0"
  generator_info="ml-connector tests" generating_system="ml-connector tests"
  xml_data="Kopie nur zur Verbuchung berechtigt nicht zum Vorsteuerabzug">
  <consolidate consolidatedAmount="-238.00" consolidatedDate="2026-03-12"
    consolidatedInvoiceId="4711" consolidatedCurrencyCode="EUR">
    <accountsPayableLedger>
      <date>2026-03-12</date>
      <amount>-119.00</amount>
      <accountNo>4930</accountNo>
      <bpAccountNo>70001</bpAccountNo>
      <invoiceId>4711</invoiceId>
      <bookingText>Papier Müller</bookingText>
      <supplierName>Papier Müller KG</supplierName>
      <currencyCode>EUR</currencyCode>
    </accountsPayableLedger>
    <accountsPayableLedger>
      <date>2026-03-12</date>
      <amount>-119.00</amount>
      <accountNo>4930</accountNo>
      <bpAccountNo>70001</bpAccountNo>
      <invoiceId>4711</invoiceId>
      <bookingText>Toner</bookingText>
      <supplierName>Papier Müller KG</supplierName>
      <currencyCode>EUR</currencyCode>
    </accountsPayableLedger>
  </consolidate>
</LedgerImport>
""".encode()
