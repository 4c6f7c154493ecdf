"""A fiscal year of bookings for the Lindner group's three legal entities (deterministic, sized).

`python scripts/demo_ledger.py --invoices-per-month 200 --out DIR` writes the EXTF files of a
bigger year (for benchmarks); `make demo` uses the default size. The postings are made here, and
so are the figures the marts must show (`expected_spend`, `expected_batches`): the tests compare
the dbt marts against them, so they are computed from the postings with plain Decimal arithmetic,
independently of the tap's parser and of the SQL.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

CONSULTANT = 29098
CENT = Decimal("0.01")
SEED = 20250101
DEFAULT_INVOICES_PER_MONTH = 6


@dataclasses.dataclass(frozen=True)
class Chart:
    """The accounts an entity books on, in its DATEV chart (SKR03 or SKR04)."""

    skr: int
    bank: int
    machines: int  # fixed asset account of the depreciation's other side
    material_19: int  # automatic account: Wareneingang 19 % Vorsteuer
    material_7: int  # automatic account: Wareneingang 7 % Vorsteuer
    material_import: int  # Wareneingang without VAT (imports invoiced in CHF/USD)
    salaries: int
    social: int
    rent: int
    energy: int
    maintenance: int
    phone: int
    office: int
    hospitality: int
    travel: int
    depreciation: int


SKR03 = Chart(3, 1200, 210, 3400, 3300, 3200, 4120, 4130, 4210, 4240, 4806, 4920, 4930, 4650, 4660, 4830)
SKR04 = Chart(4, 1800, 440, 5400, 5300, 5200, 6020, 6110, 6310, 6325, 6495, 6805, 6815, 6640, 6650, 6220)

# German labels (the GL label files), by role; the numbers come from the chart.
LABELS = {
    "bank": "Bank",
    "machines": "Technische Anlagen und Maschinen",
    "material_19": "Wareneingang 19 % Vorsteuer",
    "material_7": "Wareneingang 7 % Vorsteuer",
    "material_import": "Wareneingang",
    "salaries": "Gehälter",
    "social": "Gesetzliche soziale Aufwendungen",
    "rent": "Miete (unbewegliche Wirtschaftsgüter)",
    "energy": "Gas, Strom, Wasser",
    "maintenance": "Wartungskosten für Hard- und Software",
    "phone": "Telefon",
    "office": "Bürobedarf",
    "hospitality": "Bewirtungskosten",
    "travel": "Reisekosten Arbeitnehmer Übernachtungsaufwand",
    "depreciation": "Abschreibungen auf Sachanlagen",
}


@dataclasses.dataclass(frozen=True)
class Entity:
    client: int
    name: str
    chart: Chart
    fiscal_year_start: date
    monthly_scale: int  # rough size of the business: multiplies amounts

    @property
    def client_id(self) -> str:
        return f"{CONSULTANT}-{self.client}"

    def months(self) -> list[date]:
        first = self.fiscal_year_start.year * 12 + self.fiscal_year_start.month - 1
        return [date((first + i) // 12, (first + i) % 12 + 1, 1) for i in range(12)]


ENTITIES = (
    Entity(55003, "Lindner Maschinenbau GmbH", SKR03, date(2025, 1, 1), 5),
    Entity(55004, "Lindner Antriebstechnik GmbH", SKR04, date(2025, 7, 1), 3),
    Entity(55005, "Lindner Service GmbH", SKR03, date(2025, 1, 1), 1),
)

# Kreditoren (personal accounts: five digits with the entities' four-digit GL accounts).
SUPPLIERS = {
    70001: "Stahlhandel Müller GmbH & Co. KG",
    70002: "Stadtwerke Würzburg",
    70003: "Büro-Kraft Schäfer e.K.",
    70004: "Gebäudeverwaltung Röder",
    70005: "Zürcher Präzisionsteile AG",
    70006: "Dayton Bearings Inc.",
    70007: "Telekom Deutschland GmbH",
    70008: "Systemhaus Weiß & Söhne",
    70009: "Bäckerei-Café Kühn",
}
# Invoice kinds: (role of the expense account, supplier, tax key or "" on automatic accounts,
# VAT rate, amount range in EUR, text).
INVOICE_KINDS = (
    ("material_19", 70001, "", Decimal(19), (800, 24000), "Stahlbleche und Profile"),
    ("material_7", 70009, "", Decimal(7), (40, 400), "Lebensmittel Kantine"),
    ("energy", 70002, "9", Decimal(19), (600, 4800), "Strom und Gas für Halle 2"),
    ("maintenance", 70008, "9", Decimal(19), (300, 3500), "Wartung CAD-Arbeitsplätze"),
    ("phone", 70007, "9", Decimal(19), (60, 900), "Mobilfunk Außendienst"),
    ("office", 70003, "9", Decimal(19), (30, 700), "Papier, Toner, Ordner (Preis in €)"),
    ("hospitality", 70009, "9", Decimal(19), (40, 600), "Bewirtung Kunde Schröder"),
)
COST_CENTRES = ("100", "200", "300")  # Fertigung, Vertrieb, Verwaltung
# An unusual tax key the marts' seed does not list: its line must stay gross and be flagged.
UNKNOWN_TAX_KEY = "94"
RATES = {"CHF": Decimal("0.935000"), "USD": Decimal("1.085000")}  # Kurs: units per 1 EUR


@dataclasses.dataclass(frozen=True)
class Posting:
    """One line of a Buchungsstapel. `amount` is Umsatz (gross, in `currency`)."""

    booked_on: date
    amount: Decimal
    debit_credit: str  # S or H, for `account`
    account: int
    contra_account: int
    tax_key: str
    document: str
    text: str
    cost_centre: str = ""
    currency: str = ""  # "" = EUR (the header's currency)
    general_reversal: bool = False
    vat_rate: Decimal | None = Decimal(0)  # what the marts must apply to the spend side; None = unknown

    @property
    def amount_eur(self) -> Decimal:
        if not self.currency:
            return self.amount
        return (self.amount / RATES[self.currency]).quantize(CENT, ROUND_HALF_UP)


@dataclasses.dataclass(frozen=True)
class Batch:
    entity: Entity
    month: date
    file_name: str
    postings: tuple[Posting, ...]
    label: str
    rejected: bool = False  # built so that DATEV's import refuses it
    kind: str = "extf"  # or "dxso": an accountsPayableLedgerImport of invoices (Rechnungsdatenservice)


def _money(rng: random.Random, low: int, high: int, scale: int = 1) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100) * scale) / 100


def _day(month: date, day: int) -> date:
    return month.replace(day=min(day, 28))


def _month_postings(entity: Entity, month: date, rng: random.Random, invoices: int) -> Iterator[Posting]:
    c = entity.chart
    tag = f"{month:%Y%m}"
    first_invoice: Posting | None = None
    for n in range(1, invoices + 1):
        role, supplier, key, rate, (low, high), text = rng.choice(INVOICE_KINDS)
        gross = _money(rng, low, high, entity.monthly_scale)
        doc = f"ER-{tag}-{n:03d}"
        invoice = Posting(
            _day(month, rng.randint(1, 20)),
            gross,
            "S",
            getattr(c, role),
            supplier,
            key,
            doc,
            text,
            rng.choice(COST_CENTRES),
            vat_rate=rate,
        )
        first_invoice = first_invoice or invoice
        yield invoice
        # Paid from the bank within the month: supplier debited, bank credited (no spend).
        yield Posting(
            _day(month, 25), gross, "S", supplier, c.bank, "", f"ZA-{tag}-{n:03d}", f"Zahlung {doc}"
        )
    rent = Decimal(4500 * entity.monthly_scale) * Decimal("1.19")
    yield Posting(
        _day(month, 1),
        rent,
        "S",
        c.rent,
        70004,
        "9",
        f"MI-{tag}",
        f"Miete {month:%m/%Y} Halle",
        "300",
        vat_rate=Decimal(19),
    )
    salaries = _money(rng, 18000, 22000, entity.monthly_scale)
    yield Posting(
        _day(month, 28), salaries, "S", c.salaries, c.bank, "", f"LO-{tag}", f"Gehälter {month:%m/%Y}", "100"
    )
    social = (salaries * Decimal("0.21")).quantize(CENT)
    yield Posting(
        _day(month, 28), social, "S", c.social, c.bank, "", f"SV-{tag}", "Sozialversicherung AG-Anteil", "100"
    )
    depreciation = Decimal(1250 * entity.monthly_scale)
    yield Posting(
        _day(month, 28),
        depreciation,
        "S",
        c.depreciation,
        c.machines,
        "",
        f"AfA-{tag}",
        "AfA Maschinen linear",
        "100",
    )
    hotel = _money(rng, 90, 480)
    yield Posting(
        _day(month, 14),
        hotel,
        "S",
        c.travel,
        c.bank,
        "8",
        f"RK-{tag}",
        "Hotel Messe Düsseldorf",
        "200",
        vat_rate=Decimal(7),
    )
    index = entity.months().index(month)
    if index in {2, 8}:  # imports invoiced in CHF and USD: no German VAT on the invoice
        currency, supplier = ("CHF", 70005) if index == 2 else ("USD", 70006)
        amount = _money(rng, 2000, 9000, entity.monthly_scale)
        doc = f"ER-{tag}-IMP"
        yield Posting(
            _day(month, 9),
            amount,
            "S",
            c.material_import,
            supplier,
            "",
            doc,
            f"Präzisionswellen ({currency})",
            "100",
            currency,
        )
    if index == 5 and first_invoice:  # a Generalumkehr cancels the month's first invoice (S/H flipped)
        yield dataclasses.replace(
            first_invoice,
            booked_on=_day(month, 27),
            debit_credit="H",
            general_reversal=True,
            text=f"Storno {first_invoice.document}",
        )
    if index == 10:
        yield Posting(
            _day(month, 12),
            Decimal("1190.00"),
            "S",
            c.maintenance,
            70008,
            UNKNOWN_TAX_KEY,
            f"ER-{tag}-13B",
            "Wartung Steuerung §13b",
            "100",
            vat_rate=None,
        )


def _seed(entity: Entity, month: date) -> int:
    return SEED + entity.client * 100 + month.month + month.year * 10_000


def batches(invoices_per_month: int = DEFAULT_INVOICES_PER_MONTH) -> list[Batch]:
    """Twelve monthly Buchungsstapel per entity, plus one that DATEV rejects (Lindner Service)."""
    out = []
    for entity in ENTITIES:
        for month in entity.months():
            rng = random.Random(_seed(entity, month))
            postings = tuple(_month_postings(entity, month, rng, invoices_per_month))
            name = f"EXTF_Buchungsstapel_{entity.client}_{month:%Y_%m}.csv"
            out.append(Batch(entity, month, name, postings, f"Buchungen {month:%m/%Y}"))
    # Two supplier invoices sent as a DXSO job (Lindner Maschinenbau has Rechnungsdatenservice 1.0):
    # gross amounts with their stated VAT rate, on the office supplies account.
    works = ENTITIES[0]
    month = works.months()[-1]
    invoices = tuple(
        Posting(
            _day(month, day), amount, "S", works.chart.office, 70003, "", f"RE-{month:%Y%m}-D{n}",
            text, "300", vat_rate=Decimal(19),
        )
        for n, (day, amount, text) in enumerate(
            ((10, Decimal("595.00"), "Druckerpapier Müller"), (17, Decimal("142.80"), "Ordner und Hüllen")), 1
        )
    )  # fmt: skip
    ledger = f"Rechnungen_{works.client}_{month:%Y_%m}.xml"
    out.append(Batch(works, month, f"document.xml, {ledger}", invoices, "Rechnungen", kind="dxso"))
    # An export without postings (header and column names only): DATEV's import rejects it
    # ("Invalid file: No payload"); the tap's local checks let it through.
    service = ENTITIES[2]
    month = service.months()[-1]
    name = f"EXTF_Buchungsstapel_{service.client}_Nachtrag.csv"
    out.append(Batch(service, month, name, (), "Nachtrag", rejected=True))
    return out


def spend_side(posting: Posting, chart: Chart) -> tuple[Decimal, Decimal] | None:
    """(net, VAT) in EUR on the posting's expense account, debits positive; None when no expense account."""
    accounts = {getattr(chart, f.name) for f in dataclasses.fields(chart)}
    expense = accounts - {chart.skr, chart.bank, chart.machines}
    if posting.account in expense:
        gross = posting.amount_eur if posting.debit_credit == "S" else -posting.amount_eur
    elif posting.contra_account in expense:
        gross = -posting.amount_eur if posting.debit_credit == "S" else posting.amount_eur
    else:
        return None
    if posting.vat_rate is None:
        return gross, Decimal(0)
    net = (gross * 100 / (100 + posting.vat_rate)).quantize(CENT, ROUND_HALF_UP)
    return net, gross - net


def expected_spend(all_batches: list[Batch]) -> dict[tuple[str, date], tuple[Decimal, Decimal, int]]:
    """(client id, calendar month) → (net spend EUR, VAT EUR, postings) over the accepted batches."""
    out: dict[tuple[str, date], tuple[Decimal, Decimal, int]] = {}
    for batch in all_batches:
        if batch.rejected:
            continue
        for posting in batch.postings:
            side = spend_side(posting, batch.entity.chart)
            if side is None:
                continue
            key = (batch.entity.client_id, posting.booked_on.replace(day=1))
            net, vat, count = out.get(key, (Decimal(0), Decimal(0), 0))
            out[key] = (net + side[0], vat + side[1], count + 1)
    return out


def expected_batches(all_batches: list[Batch]) -> dict[str, tuple[int, Decimal, Decimal, str]]:
    """file name → (lines, Umsatz over S lines, Umsatz over H lines, reconciliation status)."""
    return {
        b.file_name: (
            len(b.postings),
            sum((p.amount for p in b.postings if p.debit_credit == "S"), Decimal(0)),
            sum((p.amount for p in b.postings if p.debit_credit == "H"), Decimal(0)),
            "rejected" if b.rejected else "ok",
        )
        for b in all_batches
    }


def main() -> None:
    import demo_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices-per-month", type=int, default=DEFAULT_INVOICES_PER_MONTH)
    parser.add_argument("--out", type=Path, required=True, help="folder for the EXTF files")
    args = parser.parse_args()
    files = demo_data.write_all(args.out, args.invoices_per_month)
    print(f"{sum(len(v) for v in files.values())} files in {args.out}")


if __name__ == "__main__":
    main()
