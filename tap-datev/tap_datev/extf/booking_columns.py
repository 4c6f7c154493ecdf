"""booking_lines records of a file read as a body (extf/body.py), a block of lines at a time. No I/O.

Each block is read with pyarrow.csv into one string column per EXTF column; whole columns are checked
and converted at once (pyarrow.compute), and each record is then the record template updated with
that line's values of the non-empty columns. A line a columnar check flags (a value that is not in
its plain form, a warning to give) is made by LineRecords from the csv module's row of the block,
exactly as for other files, warnings included. A block pyarrow reads differently from the csv module
(a line break inside quotes, a line with another number of fields, a field over the csv module's
size limit) ends the columnar read: from that block on, every line goes through LineRecords.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pcsv

from tap_datev.booking_line import EUR
from tap_datev.extf.read import _Reader, body_rows
from tap_datev.extf.records import SPECIAL_FIELDS

if TYPE_CHECKING:
    from tap_datev.booking_line import Column
    from tap_datev.extf.body import Block, ExtfBody
    from tap_datev.extf.read import ExtfFile
    from tap_datev.extf.records import LineRecords

# The plain forms converted in whole columns; any other value is converted (or refused, with its
# warning) one value at a time by the same functions as the per-line path.
_DIGITS = r"^[0-9]{1,18}$"  # fits int64
_AMOUNT = r"^(?:0|[1-9][0-9]{0,12}),[0-9][0-9]$"  # booking_line.amount_text's canonical form
_NULL = pa.scalar(None, pa.string())
_FLAGGED = ""  # a patch key no record field has: the line is made by LineRecords
pc: Any = _compute  # kernels pyarrow's stubs do not declare


def body_records(f: ExtfFile, body: ExtfBody, lines: LineRecords) -> Iterator[Iterator[dict[str, Any]]]:
    """The records of each block in turn."""
    first_line = 3
    for index, block in enumerate(body.blocks()):
        read = _read_block(block, len(lines.columns))
        if read is None:
            reader = _Reader(f.filename, strict=False)
            reader.warnings = f.warnings
            rest = body_rows(reader, body.lines(first_block=index), first_line)
            yield (lines.record(row, line) for row, line in rest)
            return
        rows, arrays = read
        yield _block_records(rows, arrays, block, first_line, lines)
        first_line += rows


@cache
def _options(width: int) -> tuple[pcsv.ReadOptions, pcsv.ParseOptions, pcsv.ConvertOptions]:
    names = [f"c{i}" for i in range(width)]
    return (
        # One thread: a block is small, and the tap shares the machine with the target.
        pcsv.ReadOptions(column_names=names, use_threads=False),
        pcsv.ParseOptions(
            delimiter=";",
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=False,
        ),
        pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _read_block(block: Block, n: int) -> tuple[int, dict[int, pa.Array]] | None:
    """(rows, the non-empty ones of columns 0..n-1 as string arrays, null for an empty field) of a
    block; None when pyarrow would read it otherwise than the csv module (see the module docstring)
    or lines have other than n fields (LineRecords warns about those)."""
    try:
        text = block.text
        first = next(csv.reader([text.partition("\n")[0]], delimiter=";"), [])
        if len(first) < n:
            return None
        table = pcsv.read_csv(pa.py_buffer(block.utf8), *_options(len(first)))
    except (csv.Error, pa.ArrowInvalid):
        return None
    rows = table.num_rows
    if not block.one_line_per_row(rows):
        return None
    limit = csv.field_size_limit()
    arrays: dict[int, pa.Array] = {}
    for i, column in enumerate(table.columns):
        if column.null_count == rows:
            continue
        if i >= n:
            return None  # a non-empty field beyond the format's columns: LineRecords warns
        array = arrays[i] = column.combine_chunks()
        if array.buffers()[2].size > limit and pc.max(pc.utf8_length(array)).as_py() > limit:
            return None  # the csv module refuses such a field: its error names the line
    return rows, arrays


class _Stores:
    """What a block's records get beyond the record template: a value most lines share goes into
    the block's template; otherwise, per key, the values of every line, or of the lines listed (a
    mostly empty column, a column's exceptions, cost only their values)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.shared: dict[str, Any] = {}
        self.items: list[tuple[str, list[int] | None, list[Any]]] = []

    def every(self, key: str, values: list[Any]) -> None:
        self.items.append((key, None, values))

    def some(self, key: str, where: list[int], values: list[Any]) -> None:
        if where:
            # `where` lists distinct lines in order: as many as the block has, it is every line
            self.items.append((key, None if len(where) == self.rows else where, values))

    def column(self, key: str, array: pa.Array) -> None:
        rows = len(array)
        if array.null_count * 2 > rows:
            self.some(key, *_non_null(array))
            return
        counts = array.value_counts()
        top = pc.index(counts.field("counts"), pc.max(counts.field("counts"))).as_py()
        if counts.field("counts")[top].as_py() * 2 <= rows:
            self.every(key, array.to_pylist())
            return
        common = counts.field("values")[top]
        self.shared[key] = common.as_py()
        where = _indices(pc.fill_null(pc.not_equal(array, common), True))
        self.some(key, where, array.take(where).to_pylist() if where else [])

    def values(self, key: str, rows: int) -> list[Any]:
        """Every line's value stored for `key` (None where none)."""
        out: list[Any] = [self.shared.get(key)] * rows
        for item, where, values in self.items:
            if item == key:
                for j, value in zip(range(rows) if where is None else where, values, strict=True):
                    out[j] = value
        return out

    def records(
        self, template: dict[str, Any], line_numbers: range, flagged: Callable[[int], dict[str, Any]] | None
    ) -> Iterator[dict[str, Any]]:
        """The block's records, made one at a time as they are consumed (so that a block's records
        are never all alive at once); `flagged(j)` makes line j's where it says so."""
        block_template = template.copy()
        block_template.update(self.shared)
        keys = ("line_number", *(key for key, where, _ in self.items if where is None))
        columns = [line_numbers, *(values for _, where, values in self.items if where is None)]
        patches: dict[int, list[tuple[str, Any]]] = {}
        for key, where, values in self.items:
            if where is not None:
                for j, value in zip(where, values, strict=True):
                    patches.setdefault(j, []).append((key, value))
        first = line_numbers.start
        patch_of = patches.get
        for row in zip(*columns, strict=True):
            j = row[0] - first
            rec = block_template.copy()
            rec.update(zip(keys, row, strict=True))
            patch = patch_of(j)
            if patch is not None:
                if flagged is not None and patch[0][0] == _FLAGGED:
                    yield flagged(j)
                    continue
                rec.update(patch)
            yield rec


def _non_null(array: pa.Array) -> tuple[list[int], list[Any]]:
    where = _indices(pc.is_valid(array))
    return where, array.take(where).to_pylist() if where else []


def _block_records(
    rows: int, read: dict[int, pa.Array], block: Block, first_line: int, lines: LineRecords
) -> Iterator[dict[str, Any]]:
    empty = pa.nulls(rows, pa.string())
    arrays = {c.field: read.get(i, empty) for i, c in enumerate(lines.columns)}
    bad: list[int] = []  # lines LineRecords makes: a value not in its plain form, a warning
    stores = _Stores(rows)
    for i, column in enumerate(lines.columns):
        if i in read and column.field not in SPECIAL_FIELDS:
            bad.extend(_convert(read[i], column, lines, stores))

    amount = _amounts(arrays["umsatz"], bad)
    base = _amounts(arrays["basis_umsatz"], bad)
    where, kurs, failed = _by_value(arrays["kurs"], lines.converters["kurs"])
    stores.some("kurs", where, kurs)
    bad.extend(failed)
    belegdatum = arrays["belegdatum"]
    stores.column("belegdatum", belegdatum)
    where, dates, failed = _by_value(belegdatum, _date_of(lines))
    stores.some("booking_date", where, dates)
    bad.extend(failed)

    debit_credit = arrays["soll_haben_kennzeichen"]
    debit = pc.fill_null(pc.equal(debit_credit, "S"), False)
    credit = pc.fill_null(pc.equal(debit_credit, "H"), False)
    bad.extend(_indices(pc.invert(pc.or_(debit, credit))))
    currency = arrays["wkz_umsatz"]
    if lines.ctx.default_currency is not None:
        currency = pc.fill_null(currency, lines.ctx.default_currency)
    # The EUR rule (booking_line.eur_text) where it needs no arithmetic: the amount in EUR, or a
    # Basis-Umsatz in EUR. A line converted by its Kurs, or without an EUR amount, is flagged.
    base_in_eur = pc.fill_null(pc.and_(pc.is_valid(base), pc.equal(arrays["wkz_basis_umsatz"], EUR)), False)
    eur = pc.if_else(
        pc.fill_null(pc.equal(currency, EUR), False), amount, pc.if_else(base_in_eur, base, _NULL)
    )
    bad.extend(_indices(pc.and_(pc.is_valid(amount), pc.is_null(eur))))

    stores.column("currency", currency)
    stores.column("debit_credit", debit_credit)
    amounts = amount.to_pylist()
    stores.every("amount", amounts)
    stores.every("umsatz", amounts)
    for side, money in (("", amount), ("_eur", eur)):
        negated = _negate(money)
        stores.column(f"account_amount{side}", pc.if_else(debit, money, negated))
        stores.column(f"contra_account_amount{side}", pc.if_else(debit, negated, money))
    stores.column("basis_umsatz", base)
    reversal = arrays.get("generalumkehr")
    if reversal is not None:
        where = _indices(pc.fill_null(pc.equal(reversal, "1"), False))
        stores.some("is_general_reversal", where, [True] * len(where))
    labels = lines.ctx.labels
    if labels:
        by_number = {int(k): v for k, v in labels.items() if k.isdigit() and str(int(k)) == k}
        for field, label in (("konto", "account_label"), ("gegenkonto", "contra_account_label")):
            stores.every(label, [by_number.get(k) for k in stores.values(field, rows)])

    line_numbers = range(first_line, first_line + rows)
    if not bad:
        return stores.records(lines.template, line_numbers, None)
    reader = _Reader(lines.filename, strict=False)
    raw = [row for row, _ in body_rows(reader, io.StringIO(block.text, newline=""), 1)]
    flagged = sorted(set(bad))
    stores.items.insert(0, (_FLAGGED, flagged, [None] * len(flagged)))  # first in each line's patch
    return stores.records(lines.template, line_numbers, lambda j: lines.record(raw[j], first_line + j))


def _indices(mask: pa.Array) -> list[int]:
    return pc.indices_nonzero(mask).to_pylist()


def _amounts(array: pa.Array, bad: list[int]) -> pa.Array:
    """Amount text per line, null where the raw text is empty or not plain (those lines flagged)."""
    plain = pc.match_substring_regex(array, _AMOUNT)
    bad.extend(_indices(pc.and_(pc.is_valid(array), pc.invert(plain))))
    return pc.replace_substring(pc.if_else(plain, array, _NULL), ",", ".")


def _negate(money: pa.Array) -> pa.Array:
    """booking_line.negate for whole columns of unsigned money text."""
    return pc.if_else(pc.equal(money, "0.00"), money, pc.binary_join_element_wise("-", money, ""))


def _convert(array: pa.Array, column: Column, lines: LineRecords, stores: _Stores) -> list[int]:
    """Stores the record values of one column; returns the lines whose value cannot be converted."""
    convert = lines.converters.get(column.field)
    if convert is None:
        stores.column(column.field, array)
        return []
    if column.kind == "int":
        plain = pc.fill_null(pc.match_substring_regex(array, _DIGITS), False)
        done = pc.cast(pc.if_else(plain, array, _NULL), pa.int64())
    elif column.kind == "amount":
        plain = pc.fill_null(pc.match_substring_regex(array, _AMOUNT), False)
        done = pc.replace_substring(pc.if_else(plain, array, _NULL), ",", ".")
    else:
        where, values, failed = _by_value(array, convert)
        stores.some(column.field, where, values)
        return failed
    stores.column(column.field, done)
    where, values, failed = _by_value(pc.if_else(plain, _NULL, array), convert)
    stores.some(column.field, where, values)
    return failed


def _by_value(array: pa.Array, convert: Callable[[str], Any]) -> tuple[list[int], list[Any], list[int]]:
    """(lines, their values) of the non-empty values of `array`, each distinct value converted once,
    and the lines whose value `convert` refuses (LineRecords warns about them)."""
    if array.null_count == len(array):
        return [], [], []
    where = _indices(pc.is_valid(array))
    encoded = pc.dictionary_encode(array.take(where))
    converted: list[Any] = []
    refused: set[int] = set()
    for code, raw in enumerate(encoded.dictionary.to_pylist()):
        try:
            converted.append(convert(raw))
        except ValueError:
            converted.append(None)
            refused.add(code)
    codes = encoded.indices.to_pylist()
    failed = [j for j, code in zip(where, codes, strict=True) if code in refused] if refused else []
    return where, [converted[code] for code in codes], failed


def _date_of(lines: LineRecords) -> Callable[[str], str | None]:
    """Belegdatum (TTMM) -> ISO date; ValueError when LineRecords would warn about it."""
    resolve = lines.resolver.resolve

    def convert(raw: str) -> str | None:
        day, problem = resolve(raw)
        if problem is not None:
            raise ValueError(problem)
        return day

    return convert
