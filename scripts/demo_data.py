"""Demo input files for the three legal entities of the Lindner group (generated, deterministic).

What a controller would hand to the connector: one EXTF Buchungsstapel (v700, category 21,
format version 13, Windows-1252, CRLF) per entity with the month's supplier invoices and
payments, plus GL account labels (category 20) and supplier names (category 16).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tap_datev.extf_columns import columns_for

CONSULTANT = 29098


@dataclasses.dataclass(frozen=True)
class Entity:
    client: int
    fiscal_year_start: str  # WJ-Beginn, YYYYMMDD
    date_from: str
    date_to: str
    label: str

    @property
    def client_id(self) -> str:
        return f"{CONSULTANT}-{self.client}"


# Lindner Antriebstechnik's fiscal year starts on 1 July: its batch spans the calendar year end.
ENTITIES = (
    Entity(55003, "20250101", "20251101", "20251130", "Eingangsrechnungen November 2025"),
    Entity(55004, "20250701", "20251201", "20260131", "Eingangsrechnungen Dezember/Januar"),
    Entity(55005, "20250101", "20251101", "20251130", "Eingangsrechnungen November 2025"),
)

# SKR03 expense accounts of a manufacturer, and their suppliers (Kreditoren 70001...).
GL_LABELS = {
    3400: "Wareneingang 19 % Vorsteuer",
    4210: "Miete",
    4240: "Gas, Strom, Wasser",
    4806: "Wartungskosten für Hard- und Software",
    4920: "Telefon",
    4930: "Bürobedarf",
    4650: "Bewirtungskosten",
    1200: "Bank",
}
SUPPLIERS = {
    70001: "Stahlhandel Müller GmbH & Co. KG",
    70002: "Stadtwerke Würzburg",
    70003: "Büro-Kraft Schäfer e.K.",
    70004: "Gebäudeverwaltung Röder",
    70005: "Zürcher Präzisionsteile AG",
}

# (amount, S/H, account, contra account, TTMM, document no, text, currency, rate)
_BOOKINGS: dict[int, list[tuple[str, str, int, int, str, str, str, str, str]]] = {
    55003: [
        ("23800,00", "S", 3400, 70001, "0311", "ER-2025-1101", "Stahlbleche 2 mm", "", ""),
        ("1190,00", "S", 4240, 70002, "0511", "ER-2025-1102", "Strom Oktober", "", ""),
        ("4500,00", "S", 4210, 70004, "0111", "ER-2025-1103", "Miete Halle 2 November", "", ""),
        ("238,50", "S", 4930, 70003, "1211", "ER-2025-1104", 'Papier "DIN A4"; Toner', "", ""),
        ("23800,00", "H", 1200, 70001, "2511", "ZA-2025-1105", "Zahlung Stahlhandel Müller", "", ""),
    ],
    55004: [
        ("12500,00", "S", 3400, 70005, "0812", "ER-2025-1201", "Präzisionswellen", "CHF", "0,935000"),
        ("357,00", "S", 4806, 70003, "1512", "ER-2025-1202", "Softwarewartung CAD", "", ""),
        ("4500,00", "S", 4210, 70004, "0201", "ER-2026-0101", "Miete Januar", "", ""),
        ("1428,00", "S", 4240, 70002, "1401", "ER-2026-0102", "Gas Dezember", "", ""),
    ],
    55005: [
        ("89,90", "S", 4920, 70002, "0411", "ER-2025-1151", "Mobilfunk Außendienst", "", ""),
        ("412,30", "S", 4650, 70003, "1811", "ER-2025-1152", "Bewirtung Kunde Schröder", "", ""),
        ("2950,00", "S", 4806, 70003, "2011", "ER-2025-1153", "Wartung Servicetablets", "", ""),
    ],
}

_HEADER_CREATED = "20260115093000000"


def _text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _header(category: int, format_name: str, version: int, entity: Entity, dates: bool) -> str:
    fields = [
        '"EXTF"',
        "700",
        str(category),
        _text(format_name),
        str(version),
        _HEADER_CREATED,
        "",
        '"RE"',
        '"ml-connector demo"',
        '""',
        str(CONSULTANT),
        str(entity.client),
        entity.fiscal_year_start,
        "4",
        entity.date_from if dates else "",
        entity.date_to if dates else "",
        _text(entity.label if dates else ""),
        '""',
        "1" if dates else "",
        "0" if dates else "",
        "0" if dates else "",
        _text("EUR") if dates else '""',
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
    return ";".join(fields)


def buchungsstapel(entity: Entity) -> bytes:
    columns = columns_for(21, 13)
    assert columns is not None
    rows = []
    for amount, sh, account, contra, ttmm, doc, text, currency, rate in _BOOKINGS[entity.client]:
        values = {
            "umsatz": amount,
            "soll_haben_kennzeichen": _text(sh),
            "wkz_umsatz": _text(currency),
            "kurs": rate,
            "konto": str(account),
            "gegenkonto": str(contra),
            "bu_schluessel": _text("9") if account == 3400 and not currency else '""',
            "belegdatum": ttmm,
            "belegfeld_1": _text(doc),
            "buchungstext": _text(text),
            "festschreibung": "0",
        }
        rows.append(";".join(values.get(c.field, '""' if c.kind == "text" else "") for c in columns))
    lines = [_header(21, "Buchungsstapel", 13, entity, True), ";".join(c.name for c in columns), *rows]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def gl_labels(entity: Entity) -> bytes:
    lines = [
        _header(20, "Kontenbeschriftungen", 3, entity, False),
        "Konto;Kontenbeschriftung;Sprach-ID;Kontenbeschriftung lang",
    ]
    lines += [f'{acct};{_text(label)};"de-DE";""' for acct, label in sorted(GL_LABELS.items())]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def business_partners(entity: Entity) -> bytes:
    columns = columns_for(16, 5)
    assert columns is not None
    lines = [_header(16, "Debitoren/Kreditoren", 5, entity, False), ";".join(c.name for c in columns)]
    for account, name in sorted(SUPPLIERS.items()):
        values = {"konto": str(account), "name_adressattyp_unternehmen": _text(name), "adressattyp": '"2"'}
        lines.append(";".join(values.get(c.field, '""' if c.kind == "text" else "") for c in columns))
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def invoice_pdf(entity: Entity) -> bytes:
    """A one-page PDF standing in for a scanned supplier invoice (Beleg)."""
    text = f"Eingangsrechnung ER-2025-11 {entity.client_id}"
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write_all(folder: Path) -> dict[str, list[Path]]:
    """Write every demo file; returns them by kind (batches, gl_labels, partners, documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Path]] = {"batches": [], "gl_labels": [], "partners": [], "documents": []}
    for entity in ENTITIES:
        for kind, name, data in (
            ("batches", f"EXTF_Buchungsstapel_{entity.client}.csv", buchungsstapel(entity)),
            ("gl_labels", f"EXTF_Kontenbeschriftungen_{entity.client}.csv", gl_labels(entity)),
            ("partners", f"EXTF_DebKred_{entity.client}.csv", business_partners(entity)),
            ("documents", f"Eingangsrechnung {entity.client}.pdf", invoice_pdf(entity)),
        ):
            path = folder / name
            path.write_bytes(data)
            out[kind].append(path)
    return out
