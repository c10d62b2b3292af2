"""PDF (pypdf, one section per page), Word .docx (python-docx, headings kept) and HTML files."""

from __future__ import annotations

from pathlib import Path

from .documents import Document, LoadError, Section


def load_pdf(path: Path) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:
                raise LoadError("encrypted PDF (a password is needed)") from exc
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                sections.append(Section(text, "prose", location={"page": number}))
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"unreadable PDF: {exc}") from exc
    if not sections:
        raise LoadError("the PDF has no extractable text (scanned images?)")
    return Document(str(path), "pdf", sections, {"pages": len(reader.pages)})


def load_docx(path: Path) -> Document:
    import zipfile

    import docx

    from .zipguard import check_zip

    check_zip(path)  # before python-docx inflates anything
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LoadError(f"unreadable .docx: {exc}") from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError, etc.
        raise LoadError(f"unreadable .docx: {exc}") from exc
    lines: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        if style.lower().startswith("heading"):
            level = "".join(ch for ch in style if ch.isdigit()) or "1"
            lines.append("#" * min(int(level), 6) + " " + text)
        elif style.lower() == "title":
            lines.append("# " + text)
        else:
            lines.append(text)
        lines.append("")
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
        lines.append("")
    text = "\n".join(lines).strip()
    if not text:
        raise LoadError("the .docx has no text")
    return Document(str(path), "docx", [Section(text, "markdown")])


_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd"]


def load_html(path: Path) -> Document:
    from bs4 import BeautifulSoup

    from .text import read_text

    soup = BeautifulSoup(read_text(path), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav", "footer"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    lines: list[str] = []
    for el in soup.find_all(_BLOCKS):
        if el.find_parent(_BLOCKS) is not None:
            continue  # nested block: its text is part of the parent's
        if el.name == "pre":
            lines.append("```\n" + el.get_text() + "\n```")
        else:
            text = el.get_text(" ", strip=True)
            if not text:
                continue
            if el.name[0] == "h" and el.name[1:].isdigit():
                text = "#" * int(el.name[1:]) + " " + text
            elif el.name == "li":
                text = "- " + text
            lines.append(text)
        lines.append("")
    body = "\n".join(lines).strip()
    if not body:  # no block markup: fall back to the visible text
        body = soup.get_text("\n", strip=True)
    if not body:
        raise LoadError("the HTML page has no text")
    if title and not body.startswith("# "):
        body = f"# {title}\n\n{body}"
    return Document(str(path), "html", [Section(body, "markdown")], {"title": title})
