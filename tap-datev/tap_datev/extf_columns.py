"""Column definitions of the EXTF (DATEV-Format) categories the tap reads, per format version.

DATEV files are parsed by position and format version, never by column name: the names in the
column-name row differ between versions and tools (`Basisumsatz` / `Basis-Umsatz`, en dash / hyphen),
while the positions of a category are stable across versions.

Raw types (`Column.kind`):
- ``text``    quoted text, kept as is (NFC)
- ``amount``  money with decimal comma (or a whole number), 2 decimals
- ``decimal`` other decimal-comma numbers; ``scale`` decimals
- ``int``     unquoted whole number (account numbers, flags, codes)
- ``ttmm``    day and month without year (Belegdatum); the year comes from the header
- ``date``    TTMMJJJJ
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

BUCHUNGSSTAPEL = 21
KONTENBESCHRIFTUNGEN = 20
DEBITOREN_KREDITOREN = 16

#: Format name DATEV expects for each category (header field 4).
FORMAT_NAMES: dict[int, str] = {
    DEBITOREN_KREDITOREN: "Debitoren/Kreditoren",
    KONTENBESCHRIFTUNGEN: "Kontenbeschriftungen",
    BUCHUNGSSTAPEL: "Buchungsstapel",
    46: "Zahlungsbedingungen",
    48: "Diverse Adressen",
    65: "Wiederkehrende Buchungen",
    66: "Natural-Stapel",
}

#: Format versions DATEV currently accepts on import, per category (header field 5).
SUBMIT_FORMAT_VERSIONS: dict[int, frozenset[int]] = {
    BUCHUNGSSTAPEL: frozenset({12, 13}),  # DATEV requires >= 12 for Buchungsstapel
    KONTENBESCHRIFTUNGEN: frozenset({2, 3}),
    DEBITOREN_KREDITOREN: frozenset({5}),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # German name as DATEV writes it in the column-name row
    field: str  # stable snake_case ASCII record field
    kind: str  # see module docstring
    length: int | None = None  # max characters (text) or digits (numbers); None = not enforced
    scale: int = 0  # decimals for amount/decimal


def snake_case(name: str) -> str:
    """ASCII snake_case of a German column name: umlauts spelled out, everything else a separator."""
    text = name.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = text.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue").replace("%", " prozent ")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _t(name: str, field: str, length: int | None = None) -> Column:
    return Column(name, field, "text", length)


def _i(name: str, field: str, length: int | None = None) -> Column:
    return Column(name, field, "int", length)


def _a(name: str, field: str, length: int | None = 12) -> Column:
    return Column(name, field, "amount", length, 2)


def _d(name: str, field: str, scale: int, length: int | None = None) -> Column:
    return Column(name, field, "decimal", length, scale)


def _date(name: str, field: str) -> Column:
    return Column(name, field, "date", 8)


def _pairs(art: str, inhalt: str, field: str, count: int) -> list[Column]:
    """`<art> n` (text 20) / `<inhalt> n` (text 210) column pairs, n = 1..count."""
    cols: list[Column] = []
    for n in range(1, count + 1):
        cols.append(_t(f"{art} {n}", f"{field}_art_{n}", 20))
        cols.append(_t(f"{inhalt} {n}", f"{field}_inhalt_{n}", 210))
    return cols


# Buchungsstapel format version 13 (125 columns), names verbatim from DATEV's sample file
# (including DATEV's own `Zusatzinformation - Art` / `Zusatzinformation- Inhalt` inconsistency).
BUCHUNGSSTAPEL_V13: tuple[Column, ...] = (
    _a("Umsatz (ohne Soll/Haben-Kz)", "umsatz"),
    _t("Soll/Haben-Kennzeichen", "soll_haben_kennzeichen", 1),
    _t("WKZ Umsatz", "wkz_umsatz", 3),
    _d("Kurs", "kurs", 6, 10),
    _a("Basis-Umsatz", "basis_umsatz"),
    _t("WKZ Basis-Umsatz", "wkz_basis_umsatz", 3),
    _i("Konto", "konto", 9),
    _i("Gegenkonto (ohne BU-Schlüssel)", "gegenkonto", 9),
    _t("BU-Schlüssel", "bu_schluessel", 4),
    Column("Belegdatum", "belegdatum", "ttmm", 4),
    _t("Belegfeld 1", "belegfeld_1", 36),
    _t("Belegfeld 2", "belegfeld_2", 12),
    _a("Skonto", "skonto", 10),
    _t("Buchungstext", "buchungstext", 60),
    _i("Postensperre", "postensperre", 1),
    _t("Diverse Adressnummer", "diverse_adressnummer", 9),
    _i("Geschäftspartnerbank", "geschaeftspartnerbank", 3),
    _i("Sachverhalt", "sachverhalt", 2),
    _i("Zinssperre", "zinssperre", 1),
    _t("Beleglink", "beleglink", 210),
    *_pairs("Beleginfo - Art", "Beleginfo - Inhalt", "beleginfo", 8),
    _t("KOST1 - Kostenstelle", "kost1_kostenstelle", 36),
    _t("KOST2 - Kostenstelle", "kost2_kostenstelle", 36),
    _d("Kost-Menge", "kost_menge", 4, 16),
    _t("EU-Land u. UStID (Bestimmung)", "eu_land_u_ustid_bestimmung", 15),
    _d("EU-Steuersatz (Bestimmung)", "eu_steuersatz_bestimmung", 2, 4),
    _t("Abw. Versteuerungsart", "abw_versteuerungsart", 1),
    _i("Sachverhalt L+L", "sachverhalt_l_l", 3),
    _i("Funktionsergänzung L+L", "funktionsergaenzung_l_l", 3),
    _i("BU 49 Hauptfunktionstyp", "bu_49_hauptfunktionstyp", 1),
    _i("BU 49 Hauptfunktionsnummer", "bu_49_hauptfunktionsnummer", 2),
    _i("BU 49 Funktionsergänzung", "bu_49_funktionsergaenzung", 3),
    *_pairs("Zusatzinformation - Art", "Zusatzinformation- Inhalt", "zusatzinformation", 20),
    _i("Stück", "stueck", 8),
    _d("Gewicht", "gewicht", 2, 10),
    _i("Zahlweise", "zahlweise", 2),
    _t("Forderungsart", "forderungsart", 10),
    _i("Veranlagungsjahr", "veranlagungsjahr", 4),
    _date("Zugeordnete Fälligkeit", "zugeordnete_faelligkeit"),
    _i("Skontotyp", "skontotyp", 1),
    _t("Auftragsnummer", "auftragsnummer", 30),
    _t("Buchungstyp", "buchungstyp", 2),
    _i("USt-Schlüssel (Anzahlungen)", "ust_schluessel_anzahlungen", 2),
    _t("EU-Land (Anzahlungen)", "eu_land_anzahlungen", 2),
    _i("Sachverhalt L+L (Anzahlungen)", "sachverhalt_l_l_anzahlungen", 3),
    _d("EU-Steuersatz (Anzahlungen)", "eu_steuersatz_anzahlungen", 2, 4),
    _i("Erlöskonto (Anzahlungen)", "erloeskonto_anzahlungen", 9),
    _t("Herkunft-Kz", "herkunft_kz", 2),
    _t("Buchungs GUID", "buchungs_guid", 36),
    _date("KOST-Datum", "kost_datum"),
    _t("SEPA-Mandatsreferenz", "sepa_mandatsreferenz", 35),
    _i("Skontosperre", "skontosperre", 1),
    _t("Gesellschaftername", "gesellschaftername", 76),
    _i("Beteiligtennummer", "beteiligtennummer", 4),
    _t("Identifikationsnummer", "identifikationsnummer", 11),
    _t("Zeichnernummer", "zeichnernummer", 20),
    _date("Postensperre bis", "postensperre_bis"),
    _t("Bezeichnung SoBil-Sachverhalt", "bezeichnung_sobil_sachverhalt", 30),
    _i("Kennzeichen SoBil-Buchung", "kennzeichen_sobil_buchung", 2),
    _i("Festschreibung", "festschreibung", 1),
    _date("Leistungsdatum", "leistungsdatum"),
    _date("Datum Zuord. Steuerperiode", "datum_zuord_steuerperiode"),
    _date("Fälligkeit", "faelligkeit"),
    _t("Generalumkehr (GU)", "generalumkehr", 1),
    _d("Steuersatz", "steuersatz", 2, 4),
    _t("Land", "land", 2),
    _t("Abrechnungsreferenz", "abrechnungsreferenz", 50),
    _i("BVV-Position", "bvv_position", 1),
    _t("EU-Land u. UStID (Ursprung)", "eu_land_u_ustid_ursprung", 15),
    _d("EU-Steuersatz (Ursprung)", "eu_steuersatz_ursprung", 2, 4),
    _i("Abw. Skontokonto", "abw_skontokonto", 9),
)

# Buchungsstapel format version 9 (120 columns): the same fields at the same positions as v13
# (checked against ledermann/datev's v9 example), only some names differ. Position 103 is a
# reserved `Leerfeld` in v9 and became `Buchungs GUID`; it maps to the same field.
_V9_NAMES: dict[int, str] = {
    5: "Basisumsatz",
    6: "WKZ Basisumsatz",
    39: "Kost Menge",
    40: "EU-Land u. USt-IdNr.",
    41: "EU-Steuersatz",
    98: "EU-Mitgliedstaat (Anzahlungen)",
    103: "Leerfeld",
    112: "Bezeichnung",
    113: "Kennzeichen",
    116: "Datum Zuord.",
    118: "Generalumkehr",
}


_EN_DASH = "\u2013"


def _v9_name(pos: int, name: str) -> str:
    # ledermann's v9 writes an en dash where DATEV's v13 sample has a hyphen
    dash = f" {_EN_DASH} "
    return _V9_NAMES.get(pos) or name.replace(" - ", dash).replace(
        "Zusatzinformation- ", f"Zusatzinformation{dash}"
    )


def _rename(cols: tuple[Column, ...]) -> tuple[Column, ...]:
    return tuple(
        Column(_v9_name(pos, c.name), c.field, c.kind, c.length, c.scale) for pos, c in enumerate(cols, 1)
    )


BUCHUNGSSTAPEL_V9: tuple[Column, ...] = _rename(BUCHUNGSSTAPEL_V13[:120])

# Kontenbeschriftungen: v2 has the first three columns, v3 adds the long label.
KONTENBESCHRIFTUNGEN_V3: tuple[Column, ...] = (
    _i("Konto", "konto", 9),
    _t("Kontenbeschriftung", "kontenbeschriftung", 40),
    _t("Sprach-ID", "sprach_id", 5),
    _t("Kontenbeschriftung lang", "kontenbeschriftung_lang", 300),
)
KONTENBESCHRIFTUNGEN_V2: tuple[Column, ...] = KONTENBESCHRIFTUNGEN_V3[:3]

# Debitoren/Kreditoren v5 (254 columns), names verbatim from DATEV's sample. Field names are derived
# with snake_case(); a repeated name (`Leerfeld`) gets its 1-based position appended.
_DEBKRED_V5_NAMES: tuple[str, ...] = (
    "Konto",
    "Name (Adressattyp Unternehmen)",
    "Unternehmensgegenstand",
    "Name (Adressattyp natürl. Person)",
    "Vorname (Adressattyp natürl. Person)",
    "Name (Adressattyp keine Angabe)",
    "Adressattyp",
    "Kurzbezeichnung",
    "EU-Land",
    "EU-UStID",
    "Anrede",
    "Titel/Akad. Grad",
    "Adelstitel",
    "Namensvorsatz",
    "Adressart",
    "Straße",
    "Postfach",
    "Postleitzahl",
    "Ort",
    "Land",
    "Versandzusatz",
    "Adresszusatz",
    "Abweichende Anrede",
    "Abw. Zustellbezeichnung 1",
    "Abw. Zustellbezeichnung 2",
    "Kennz. Korrespondenzadresse",
    "Adresse Gültig von",
    "Adresse Gültig bis",
    "Telefon",
    "Bemerkung (Telefon)",
    "Telefon GL",
    "Bemerkung (Telefon GL)",
    "E-Mail",
    "Bemerkung (E-Mail)",
    "Internet",
    "Bemerkung (Internet)",
    "Fax",
    "Bemerkung (Fax)",
    "Sonstige",
    "Bemerkung (Sonstige)",
    *[
        name
        for n in range(1, 6)
        for name in (
            f"Bankleitzahl {n}",
            f"Bankbezeichnung {n}",
            f"Bank-Kontonummer {n}",
            f"Länderkennzeichen {n}",
            f"IBAN-Nr. {n}",
            "Leerfeld",
            f"SWIFT-Code {n}",
            f"Abw. Kontoinhaber {n}",
            f"Kennz. Hauptbankverb. {n}",
            f"Bankverb {n} Gültig von",
            f"Bankverb {n} Gültig bis",
        )
    ],
    "Leerfeld",
    "Briefanrede",
    "Grußformel",
    "Kunden-/Lief.-Nr.",
    "Steuernummer",
    "Sprache",
    "Ansprechpartner",
    "Vertreter",
    "Sachbearbeiter",
    "Diverse-Konto",
    "Ausgabeziel",
    "Währungssteuerung",
    "Kreditlimit (Debitor)",
    "Zahlungsbedingung",
    "Fälligkeit in Tagen (Debitor)",
    "Skonto in Prozent (Debitor)",
    "Kreditoren-Ziel 1 Tg.",
    "Kreditoren-Skonto 1 %",
    "Kreditoren-Ziel 2 Tg.",
    "Kreditoren-Skonto 2 %",
    "Kreditoren-Ziel 3 Brutto Tg.",
    "Kreditoren-Ziel 4 Tg.",
    "Kreditoren-Skonto 4 %",
    "Kreditoren-Ziel 5 Tg.",
    "Kreditoren-Skonto 5 %",
    "Mahnung",
    "Kontoauszug",
    "Mahntext 1",
    "Mahntext 2",
    "Mahntext 3",
    "Kontoauszugstext",
    "Mahnlimit Betrag",
    "Mahnlimit %",
    "Zinsberechnung",
    "Mahnzinssatz 1",
    "Mahnzinssatz 2",
    "Mahnzinssatz 3",
    "Lastschrift",
    "Leerfeld",
    "Mandantenbank",
    "Zahlungsträger",
    *[f"Indiv. Feld {n}" for n in range(1, 16)],
    *[
        f"{name} (Rechnungsadresse)"
        for name in (
            "Abweichende Anrede",
            "Adressart",
            "Straße",
            "Postfach",
            "Postleitzahl",
            "Ort",
            "Land",
            "Versandzusatz",
            "Adresszusatz",
            "Abw. Zustellbezeichnung 1",
            "Abw. Zustellbezeichnung 2",
            "Adresse Gültig von",
            "Adresse Gültig bis",
        )
    ],
    *[
        name
        for n in range(6, 11)
        for name in (
            f"Bankleitzahl {n}",
            f"Bankbezeichnung {n}",
            f"Bank-Kontonummer {n}",
            f"Länderkennzeichen {n}",
            f"IBAN-Nr. {n}",
            "Leerfeld",
            f"SWIFT-Code {n}",
            f"Abw. Kontoinhaber {n}",
            f"Kennz. Hauptbankverb. {n}",
            f"Bankverb {n} Gültig von",
            f"Bankverb {n} Gültig bis",
        )
    ],
    "Nummer Fremdsystem",
    "Insolvent",
    *[f"SEPA-Mandatsreferenz {n}" for n in range(1, 11)],
    "Verknüpftes OPOS-Konto",
    "Mahnsperre bis",
    "Lastschriftsperre bis",
    "Zahlungssperre bis",
    "Gebührenberechnung",
    "Mahngebühr 1",
    "Mahngebühr 2",
    "Mahngebühr 3",
    "Pauschalenberechnung",
    "Verzugspauschale 1",
    "Verzugspauschale 2",
    "Verzugspauschale 3",
    "Alternativer Suchname",
    "Status",
    "Anschrift manuell geändert (Korrespondenzadresse)",
    "Anschrift individuell (Korrespondenzadresse)",
    "Anschrift manuell geändert (Rechnungsadresse)",
    "Anschrift individuell (Rechnungsadresse)",
    "Fristberechnung bei Debitor",
    "Mahnfrist 1",
    "Mahnfrist 2",
    "Mahnfrist 3",
    "Letzte Frist",
)


def _debkred_columns() -> tuple[Column, ...]:
    repeated = {n for n in _DEBKRED_V5_NAMES if _DEBKRED_V5_NAMES.count(n) > 1}
    cols: list[Column] = []
    for pos, name in enumerate(_DEBKRED_V5_NAMES, 1):
        field = f"{snake_case(name)}_{pos}" if name in repeated else snake_case(name)
        # Only the account number is typed here; the rest is kept as text in `extra` (lossless).
        cols.append(Column(name, field, "int" if pos == 1 else "text", 9 if pos == 1 else None))
    return tuple(cols)


DEBITOREN_KREDITOREN_V5: tuple[Column, ...] = _debkred_columns()

#: (category, format version) -> columns. Buchungsstapel versions not listed map by position onto
#: v13 (see columns_for), since DATEV only ever appended columns.
COLUMNS: dict[tuple[int, int], tuple[Column, ...]] = {
    (BUCHUNGSSTAPEL, 13): BUCHUNGSSTAPEL_V13,
    (BUCHUNGSSTAPEL, 9): BUCHUNGSSTAPEL_V9,
    (KONTENBESCHRIFTUNGEN, 3): KONTENBESCHRIFTUNGEN_V3,
    (KONTENBESCHRIFTUNGEN, 2): KONTENBESCHRIFTUNGEN_V2,
    (DEBITOREN_KREDITOREN, 5): DEBITOREN_KREDITOREN_V5,
}

_LATEST: dict[int, tuple[Column, ...]] = {
    BUCHUNGSSTAPEL: BUCHUNGSSTAPEL_V13,
    KONTENBESCHRIFTUNGEN: KONTENBESCHRIFTUNGEN_V3,
    DEBITOREN_KREDITOREN: DEBITOREN_KREDITOREN_V5,
}


def columns_for(category: int, format_version: int, count: int | None = None) -> tuple[Column, ...] | None:
    """Columns of a (category, format version); None when the category is unknown.

    A version without its own definition (e.g. Buchungsstapel 10-12) is mapped by position onto the
    latest known version, cut to `count` columns (the file's column-name row) when given.
    """
    known = COLUMNS.get((category, format_version))
    if known is not None:
        return known
    latest = _LATEST.get(category)
    if latest is None:
        return None
    return latest if count is None else latest[:count]
