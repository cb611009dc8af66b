"""HTML building blocks and the page: escaped tables, embedded images and audio, one template.

The page is self-contained: styles inline, figures as base64 PNG and audio as base64 FLAC data
URIs, no script and no external reference, so it opens offline, from a bucket download or as an
e-mail attachment. Every value that came from data passes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from string import Template
from typing import Any


@dataclass(frozen=True)
class Raw:
    """Markup built here (an image, a player) that a table cell must not escape again."""

    markup: str


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    body: str


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """Counts as integers, measurements to three decimals, missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return "–" if value != value else f"{value:.3f}"


def image(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{encoded}">'


def player(flac: bytes | None) -> Raw:
    """An audio control with the FLAC inline; ``preload=none`` keeps a long table light."""
    if not flac:
        return Raw('<span class="absent">no audio</span>')
    encoded = base64.b64encode(flac).decode("ascii")
    return Raw(f'<audio controls preload="none" src="data:audio/flac;base64,{encoded}"></audio>')


def cell(value: Any) -> str:
    return value.markup if isinstance(value, Raw) else esc(number(value))


def table(headers: list[str], rows: list[list[Any]], caption: str | None = None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def absent(message: str) -> str:
    return f'<p class="absent">{esc(message)}</p>'


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1em 2em; color: #1d2733; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #d5dbe1; padding-bottom: 0.2em;
     margin-top: 2em; } h3 { margin: 1.2em 0 0.4em; font-size: 1.02em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #d5dbe1; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f4f7; } caption { text-align: left; font-weight: 600; padding: 4px 0; }
td.text { max-width: 420px; } img.plot { max-width: 100%; display: block; margin: 0.5em 0; }
audio { width: 220px; height: 32px; } .absent { color: #6b7785; font-style: italic; }
nav ol { columns: 2; } .meta { color: #4b5866; }
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>voxsift report: $title</title>
<style>$style</style>
</head>
<body>
<h1>voxsift report</h1>
<p class="meta">$meta</p>
<nav><ol>$toc</ol></nav>
$sections
</body>
</html>
""")


def page(title: str, meta: str, sections: list[Section]) -> str:
    """The whole document; ``meta`` is escaped text about the run (folder, config hash)."""
    toc = "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in sections)
    body = "\n".join(
        f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>\n{s.body}</section>'
        for s in sections
    )
    return _PAGE.substitute(title=esc(title), meta=esc(meta), toc=toc, sections=body, style=_STYLE)
