"""A report's text, whatever its format: .txt/.md, .html (a saved web or WeChat article),
.pdf (text layer and tables, with page numbers) or .docx.

Each format's library is imported only when a file of that format is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FORMATS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_BYTES = 50 * 1024 * 1024  # a report larger than this is not a report


class ExtractError(Exception):
    """A file we cannot read as a report; the message is one line for the user."""


@dataclass
class Block:
    """A paragraph (or a table row turned into a sentence) and the page it is on."""

    text: str
    page: int | None = None
    heading: bool = False


@dataclass
class Document:
    blocks: list[Block]
    title: str = ""
    publisher: str = ""
    published: str = ""  # ISO date when the file's metadata gives one

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)


def read_document(path: Path) -> Document:
    """Read a report; raises ExtractError with a one-line reason on anything unreadable."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExtractError(
            f"{path.name}: unsupported file type {suffix or '(none)'} "
            "(use .txt, .md, .html, .pdf or .docx)"
        )
    if not path.is_file():
        raise ExtractError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ExtractError(f"{path.name}: larger than {MAX_BYTES // 2**20} MB")
    try:
        if suffix == ".pdf":
            doc = _read_pdf(path)
        elif suffix == ".docx":
            doc = _read_docx(path)
        elif suffix in (".html", ".htm"):
            doc = _read_html(_decode(path))
        else:
            doc = _read_text(_decode(path), markdown=suffix != ".txt")
    except ExtractError:
        raise
    except Exception as e:  # each reader's library has its own zoo of errors for a bad file
        kind = suffix[1:].upper()
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ExtractError(f"{path.name}: cannot read it as {kind}: {reason}") from None
    doc.blocks = [b for b in doc.blocks if b.text.strip()]
    if not doc.blocks:
        raise ExtractError(f"{path.name}: no text found (a scanned PDF needs OCR first)")
    return doc


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractError(f"{path.name}: not UTF-8 or GB18030 text")


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


_TEXT_CELL_SPLIT = re.compile(r"\s*(?:\||\t|｜)\s*")


def _is_table_line(line: str) -> bool:
    """A line of a plain-text table: cells between | or tabs ("接入城市 | 超过260个")."""
    return len([c for c in _TEXT_CELL_SPLIT.split(line.strip().strip("|｜")) if c]) >= 2


def _text_lines(para: str, markdown: bool) -> list[str]:
    """A paragraph's lines: markdown keeps them; plain text joins them into one, except the
    lines of a table, which stay apart so no cell reads into the next row."""
    lines = para.split("\n")
    if markdown or not sum(_is_table_line(x) for x in lines) >= 2:
        return lines if markdown else [para.replace("\n", " ")]
    out: list[str] = []
    prose: list[str] = []
    for line in lines:
        if _is_table_line(line):
            if prose:
                out.append(" ".join(prose))
                prose = []
            out.append("|" + "|".join(_TEXT_CELL_SPLIT.split(line.strip().strip("|｜"))) + "|")
        else:
            prose.append(line)
    if prose:
        out.append(" ".join(prose))
    return out


def _read_text(text: str, markdown: bool) -> Document:
    """Paragraphs are separated by blank lines; a short line alone is a heading."""
    blocks: list[Block] = []
    table: list[list[str]] = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        for line in _text_lines(para, markdown):
            line = line.strip()
            if line.startswith("|") and (markdown or line.endswith("|")):
                if not _MD_TABLE_RULE.match(line):
                    table.append([c.strip() for c in line.strip("|").split("|")])
                continue
            if table:
                blocks += table_blocks(table)
                table = []
            if not line:
                continue
            heading = bool(markdown and _MD_HEADING.match(line))
            if markdown:
                line = _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", _MD_HEADING.sub("", line)))
                line = re.sub(r"^\s*[-*+>]\s+", "", line)
            heading = heading or _looks_like_heading(line)
            follows = markdown and blocks and not heading and not blocks[-1].heading
            if follows and not re.search(r"[.。!！?？:：;；]$", blocks[-1].text):
                blocks[-1].text += (" " if line[:1].isascii() else "") + line
                continue
            blocks.append(Block(line, heading=heading))
    if table:
        blocks += table_blocks(table)
    title = next((b.text for b in blocks), "")
    return Document(blocks, title=title)


def _looks_like_heading(line: str) -> bool:
    return len(line) <= 40 and not re.search(r"[.。!！?？;；,，]$", line)


def table_blocks(rows: list[list[str]], page: int | None = None) -> list[Block]:
    """A table as sentences: each cell with its row label and column header.

    "平台 | 用户 | 城市" over "微信 | 1亿 | 120" gives "微信 用户：1亿。" and "微信 城市：120。", so a
    cell keeps the words that say what it is.
    """
    rows = [[(c or "").replace("\n", " ").strip() for c in r] for r in rows if r]
    if len(rows) < 2:
        return [Block(" ".join(rows[0]), page)] if rows else []
    header, out = rows[0], []
    rate = [bool(_RATE_HEADER.search(h)) for h in header]
    for row in rows[1:]:
        label = row[0] if row else ""
        cells: list[str] = []
        for j, cell in enumerate(row[1:], start=1):
            head = header[j] if j < len(header) else ""
            if j < len(rate) and rate[j]:
                # A QoQ/环比 column is the rate of the value to its left, not a figure.
                if cell and cells:
                    cells[-1] += f", {head} {cell}"
                continue
            if cell:
                cells.append(f"{label} {head}: {cell}")
        out += [Block(f"{c}.", page) for c in cells]
    return out


_RATE_HEADER = re.compile(
    r"qoq|q/q|yoy|y/y|环比|同比|增长率|增速|增幅|growth|change|\bvs\.?\b", re.IGNORECASE
)


def _read_html(html: str) -> Document:
    import trafilatura  # lazy: ~0.8 s to import

    doc = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_tables=True,
        favor_recall=True,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    text = (doc.text if doc is not None else "") or ""
    result = _read_text(text, markdown=True)
    if doc is not None:
        result.title = (doc.title or result.title or "").strip()
        result.publisher = (doc.sitename or "").strip()
        if doc.date and re.search(re.escape(doc.date), html):  # only a date the page states
            result.published = doc.date
    return result


def _read_pdf(path: Path) -> Document:
    import pdfplumber  # lazy: pdfminer is heavy

    blocks: list[Block] = []
    title = ""
    with pdfplumber.open(path) as pdf:
        meta = pdf.metadata or {}
        title = str(meta.get("Title") or "").strip()
        for number, page in enumerate(pdf.pages, start=1):
            tables = page.find_tables()
            rest = page
            for t in tables:
                rest = rest.outside_bbox(t.bbox)
            text = rest.extract_text() or ""
            if not text.strip() and not tables:
                text = _pdfium_text(path, number - 1)
            for para in _pdf_paragraphs(text):
                blocks.append(Block(para, number, heading=_looks_like_heading(para)))
            for t in tables:
                blocks += table_blocks(t.extract(), number)
    if not title and blocks:
        title = blocks[0].text
    return Document(blocks, title=title)


def _pdfium_text(path: Path, index: int) -> str:
    """A page's text by PDFium, for fonts pdfminer cannot map to characters: a CFF CJK font
    whose encoding is an embedded CMap (as fpdf2 writes Noto Sans CJK) gives pdfminer no
    characters at all, while its ToUnicode map gives PDFium the text."""
    import pypdfium2  # installed with pdfplumber, which renders pages with it

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        textpage = pdf[index].get_textpage()
        return textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
    finally:
        pdf.close()


def _pdf_paragraphs(text: str) -> list[str]:
    """PDF text comes as lines: join them into paragraphs at sentence ends and short lines."""
    paras: list[str] = []
    current = ""
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            if current:
                paras.append(current)
            current = ""
            continue
        joiner = " " if current and line[:1].isascii() and current[-1:].isascii() else ""
        current = f"{current}{joiner}{line}" if current else line
        if re.search(r"[。！？!?]$|[.]$", line) or _looks_like_heading(line):
            paras.append(current)
            current = ""
    if current:
        paras.append(current)
    return paras


def _read_docx(path: Path) -> Document:
    import docx  # python-docx, lazy

    d = docx.Document(str(path))
    blocks: list[Block] = []
    for para in d.paragraphs:
        text = para.text.strip()
        if text:
            style = (para.style.name or "").lower() if para.style is not None else ""
            blocks.append(Block(text, heading=style.startswith(("heading", "title"))))
    for table in d.tables:
        blocks += table_blocks([[c.text for c in row.cells] for row in table.rows])
    title = (d.core_properties.title or "").strip() or next((b.text for b in blocks), "")
    return Document(blocks, title=title)
