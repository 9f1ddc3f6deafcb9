"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML file from the same list, so the
two formats can never disagree; files are written atomically so a reader (a browser refreshing a live run's report)
never sees half of one."""

from __future__ import annotations

import base64
import html
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    path: Path  # the PNG, inside the report directory
    caption: str  # what it shows and its takeaway; its first sentence is the alt text


Block = Heading | Paragraph | Table | Figure

_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #555; }
"""


def _md_escape(text: str) -> str:
    """Text from LLMs may hold Markdown or HTML: neutralise what could break a table or inject markup."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def to_markdown(blocks: Sequence[Block], title: str, base: Path) -> str:
    """Markdown with figure links relative to `base` (the report directory)."""
    lines = [f"# {_md_escape(title)}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + _md_escape(block.text), ""]
        elif isinstance(block, Paragraph):
            lines += [_md_escape(block.text), ""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_escape(h) for h in block.headers) + " |")
            lines.append(
                "|" + "|".join("---:" if _numeric_column(block, k) else "---" for k in range(len(block.headers))) + "|"
            )
            lines += ["| " + " | ".join(_md_escape(cell) for cell in row) + " |" for row in block.rows]
            lines.append("")
        else:
            alt = _md_escape(alt_text(block.caption)).replace("[", "(").replace("]", ")")
            link = block.path.relative_to(base).as_posix()
            lines += [f"![{alt}]({link})", "", f"*{_md_escape(block.caption)}*", ""]
    return "\n".join(lines)


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One HTML file: inline CSS, real tables, and the PNGs embedded as data URIs (mailable, nothing to lose)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_code_spans(html.escape(block.text))}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>"
                + "".join(
                    f"<td{' class=n' if _numeric_column(block, k) else ''}>{html.escape(cell)}</td>"
                    for k, cell in enumerate(row)
                )
                + "</tr>"
                for row in block.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            caption = html.escape(block.caption)
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt_text(block.caption))}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def _code_spans(escaped: str) -> str:
    """A paragraph's `code` spans as the Markdown shows them (paragraphs are the report's own text, not an LLM's)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def alt_text(caption: str) -> str:
    """A figure's alt text: its caption's first sentence (what it shows); the caption itself follows the image."""
    return caption.split(". ")[0].rstrip(".")


def _numeric_column(table: Table, column: int) -> bool:
    """Right-align a column whose cells all read as numbers (after units and signs), as papers do."""
    cells = [row[column] for row in table.rows if row[column] not in ("", "-")]
    return bool(cells) and all(_looks_numeric(cell) for cell in cells)


def _looks_numeric(cell: str) -> bool:
    head = cell.split(" ")[0].rstrip("%").replace(",", "").lstrip("+-")
    try:
        float(head)
    except ValueError:
        return False
    return True


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Let `write` fill a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        write(temp)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def write_document(blocks: Sequence[Block], title: str, out: Path) -> Path:
    """Write out/report.md and out/report.html (figures must already be in `out`); return report.md's path."""
    markdown, page = to_markdown(blocks, title, out), to_html(blocks, title)
    write_atomic(out / "report.html", lambda temp: temp.write_text(page, encoding="utf-8"))
    return write_atomic(out / "report.md", lambda temp: temp.write_text(markdown, encoding="utf-8"))


def markdown_sections(markdown: str, titles: Sequence[str], level: int = 2) -> str:
    """The named sections of a written report (heading included, figure lines left out), for a terminal or a
    results file that quotes the report rather than recomputing it."""
    mark = "#" * level + " "
    parts = re.split(rf"(?m)^{re.escape(mark)}", markdown)
    kept = [mark + part.strip() for part in parts[1:] if part.split("\n", 1)[0].strip() in titles]
    lines = "\n\n".join(kept).split("\n")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line for line in lines if not line.startswith("!["))).strip()
