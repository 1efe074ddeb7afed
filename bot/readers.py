"""Reading a report file into text tables: CSV in the encodings and separators people's tools
write, and XLSX by each cell's type. Size limits are checked before the whole file is read.

Everything comes back as strings with the file's own row numbers (`_row`, the header is row
1), so validation can name the row a person sees in their spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd

# Limits, checked before a file is read in full (documented in the README's ingest section).
MAX_FILE_BYTES = 400 * 1024 * 1024  # a 1,000,000-row CSV is about 130 MB
MAX_ROWS = 2_000_000  # figures in one file
MAX_XLSX_UNPACKED_BYTES = 50 * 1024 * 1024  # the sum of a workbook's unzipped parts
MAX_XLSX_ROWS = 500_000  # bigger reports should come as CSV
SNIFF_BYTES = 64 * 1024  # how much of a CSV the separator is guessed from

ROW = "_row"  # the column holding each row's number in the file
SAVE_AS_UTF8 = "save it as “CSV UTF-8” and try again"


class ReadError(Exception):
    """The file cannot be read; the message names the file and what to do."""


def read_table(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The `facts` table (and an XLSX's optional `sources` sheet) as text, with `_row`."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ReadError(
            f"{path.name}: {size / 1e6:.0f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit "
            "for one file; split it"
        )
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(path), None
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix == ".xls":
        raise ReadError(f"{path.name}: the old Excel .xls format is not read; save it as .xlsx")
    raise ReadError(f"{path.name}: unsupported file type {suffix or '(none)'} (use .csv or .xlsx)")


# -- CSV ------------------------------------------------------------------------------------


def decode(data: bytes, name: str) -> str:
    """Text of a CSV file: UTF-8 (BOM or not), GB18030, UTF-16 with a BOM, else detected.

    Strict UTF-8 and GB18030 come before statistical guessing: on a short Chinese file
    charset-normalizer can take GB18030 bytes for Korean cp949.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ReadError(f"{name}: broken UTF-16 text; {SAVE_AS_UTF8}") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes  # only for files no common encoding reads

    best = from_bytes(data[: 4 * SNIFF_BYTES]).best()
    if best is None or best.chaos > 0.2:
        raise ReadError(f"{name}: cannot tell the text encoding; {SAVE_AS_UTF8}")
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        raise ReadError(f"{name}: cannot tell the text encoding; {SAVE_AS_UTF8}") from None


def separator(text: str, name: str) -> str:
    """`,`, `;` or tab, by csv.Sniffer on the first lines; unsure → refuse."""
    sample = text[:SNIFF_BYTES]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        pass
    # The Sniffer wants consistent rows; a header line alone can still settle it.
    header = sample.splitlines()[0] if sample else ""
    counts = {sep: header.count(sep) for sep in ",;\t"}
    best = max(counts, key=lambda sep: counts[sep])
    if counts[best] == 0 or sorted(counts.values())[-2] == counts[best]:
        raise ReadError(f"{name}: cannot tell how the columns are separated; {SAVE_AS_UTF8}")
    return best


def read_csv(path: Path) -> pd.DataFrame:
    text = decode(path.read_bytes(), path.name)
    sep = separator(text, path.name)
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            nrows=MAX_ROWS + 2,  # header + one over the limit, to tell it was passed
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, ValueError) as e:
        raise ReadError(f"{path.name}: cannot read it as CSV: {e}") from None
    return _table(raw, path.name)


def _table(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """First row as header; blank rows (bare separators) dropped; `_row` = file row number."""
    if raw.empty:
        raise ReadError(f"{name}: the file is empty")
    header = [_column_name(c) for c in raw.iloc[0].tolist()]
    seen: dict[str, str] = {}
    for original, clean in zip(raw.iloc[0].tolist(), header, strict=True):
        if clean and clean in seen:
            raise ReadError(
                f"{name}: columns {seen[clean]!r} and {original!r} are the same column; keep one"
            )
        seen[clean] = str(original)
    body = raw.iloc[1:].copy()
    body.columns = header
    body = body.loc[:, [c for c in header if c]]  # unnamed columns: Excel leftovers
    body = body.apply(_strip)
    body = body[(body != "").any(axis=1)]
    if len(body) > MAX_ROWS:
        raise ReadError(f"{name}: more than {MAX_ROWS:,} rows; split the file")
    body.insert(0, ROW, body.index.to_numpy() + 1)
    return body.reset_index(drop=True)


def _strip(col: pd.Series) -> pd.Series:
    """Strip each distinct value once: a million-row column has few distinct values."""
    codes, uniques = pd.factorize(col)
    stripped = pd.Series(uniques, dtype=object).str.strip().to_numpy(dtype=object)
    return pd.Series(stripped[codes], index=col.index, dtype=object)


def _column_name(value: object) -> str:
    return str(value if value is not None else "").strip().lower().replace(" ", "_")


# -- XLSX -----------------------------------------------------------------------------------


def read_xlsx(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    _check_unpacked_size(path)
    import openpyxl  # only when a workbook comes

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises its own zoo of errors for a broken workbook
        raise ReadError(f"{path.name}: cannot read it as XLSX: {type(e).__name__}: {e}") from None
    try:
        names = {name.strip().lower(): name for name in book.sheetnames}
        if "facts" not in names:
            raise ReadError(
                f"{path.name}: no sheet named “facts” (it has: {', '.join(book.sheetnames)})"
            )
        facts = _sheet(book[names["facts"]], f"{path.name} facts sheet")
        sources = None
        if "sources" in names:
            sources = _sheet(book[names["sources"]], f"{path.name} sources sheet")
        return facts, sources
    finally:
        book.close()


def _check_unpacked_size(path: Path) -> None:
    """Refuse a workbook whose parts unzip to more than the limit, before unzipping any."""
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(info.file_size for info in z.infolist())
    except zipfile.BadZipFile:
        raise ReadError(f"{path.name}: cannot read it as XLSX (not a workbook)") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ReadError(
            f"{path.name}: the workbook unpacks to {unpacked / 1e6:.0f} MB, over the "
            f"{MAX_XLSX_UNPACKED_BYTES / 1e6:.0f} MB limit; save it as CSV UTF-8"
        )


def _sheet(sheet, name: str) -> pd.DataFrame:
    rows = []
    for i, row in enumerate(sheet.iter_rows()):
        if i > MAX_XLSX_ROWS:
            raise ReadError(f"{name}: more than {MAX_XLSX_ROWS:,} rows; save it as CSV UTF-8")
        rows.append([_cell_text(c) for c in row])
    if not rows:
        raise ReadError(f"{name}: the sheet is empty")
    width = max(len(r) for r in rows)
    raw = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object).astype(str)
    return _table(raw, name)


def _cell_text(cell) -> str:
    """A cell as the text a person sees: 6.0% → "6", a date → "2024-05-01"."""
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float):
        if "%" in (cell.number_format or ""):
            value = value * 100
        return format(value, ".12g")  # 0.06 * 100 is 6.000000000000001
    return str(value).strip()
