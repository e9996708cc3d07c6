"""The demo report: one structure rendered as a self-contained ``report.html`` (figures embedded as
base64 PNG) and a ``report.md`` (figures linked by relative path)."""

from __future__ import annotations

import base64
import html
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (PNG path, caption)


CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1240px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #2a7a3b; padding-bottom: .2em; } h2 { color: #2a7a3b; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; } th { background: #eef5ef; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; } .meta { color: #666; font-size: .9em; }
"""


# backslash, code, emphasis (``_`` inside a word is literal in CommonMark), links, table cells, strikethrough, HTML
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})


def md_escape(text) -> str:
    """User text (tissue names, model names) safe inside Markdown: no markup, no HTML, one line."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def md_code(text) -> str:
    """``text`` (a path) as one Markdown code span, whatever backticks it holds."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"


def render_html(title: str, meta: str, sections: list[Section]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='meta'>{html.escape(meta)}</p>"]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        parts += [f"<p>{html.escape(t)}</p>" for t in s.text]
        for header, rows in s.tables:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
        for path, caption in s.figures:
            if path.exists():
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                             f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(title: str, meta: str, sections: list[Section], base: Path) -> str:
    lines = [f"# {title}", "", f"_{meta}_", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for t in s.text:
            lines += [t, ""]
        for header, rows in s.tables:
            lines.append("| " + " | ".join(map(md_escape, header)) + " |")
            lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
            lines += ["| " + " | ".join(md_escape(_cell(c)) for c in row) + " |" for row in rows]
            lines.append("")
        for path, caption in s.figures:
            if path.exists():
                lines += [f"![{caption}]({path.relative_to(base).as_posix()})", "", f"_{caption}_", ""]
    return "\n".join(lines)


def write_report(out: Path, title: str, sections: list[Section], *, meta: str | None = None) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/report.md``; returns their paths."""
    meta = meta or f"{platform.node()} · {platform.platform(terse=True)} · Python {platform.python_version()}"
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(render_html(title, meta, sections), encoding="utf-8")
    md_path.write_text(render_markdown(title, meta, sections, out), encoding="utf-8")
    return html_path, md_path
