"""MkDocs hook: the command reference (docs/reference/cli.md) generated from the CLI's own click tree at build
time — every command, its help text and a table of its options — so it never drifts from ``florabert --help``.
(mkdocs-click does not see the options of typer's own click copy.)"""

from __future__ import annotations

MARKER = "<!-- cli-reference -->"


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(p) -> str:
    d = getattr(p, "default", None)
    if getattr(p, "is_flag", False) or d is None or callable(d) or d == () or d == []:
        return ""
    return f"`{d}`"


def _render(cmd, path: list[str], level: int) -> list[str]:
    out = [f"{'#' * level} `{' '.join(path)}`", ""]
    if cmd.help:
        out += [cmd.help.strip(), ""]
    subs = getattr(cmd, "commands", None)
    params = [p for p in cmd.params if not getattr(p, "hidden", False)]
    if params:
        out += ["| option | description | default |", "|---|---|---|"]
        for p in params:
            names = ", ".join(f"`{o}`" for o in [*p.opts, *getattr(p, "secondary_opts", [])])
            req = " (required)" if p.required else ""
            out.append(f"| {names} | {_cell(getattr(p, 'help', '') or '')}{req} | {_default(p)} |")
        out.append("")
    for name in sorted(subs or {}):
        out += _render(subs[name], [*path, name], min(level + 1, 4))
    return out


def on_page_markdown(markdown: str, page, config, files):
    if MARKER not in markdown:
        return markdown
    import typer

    from florabert.cli import app

    root = typer.main.get_command(app)
    lines = []
    for name in sorted(root.commands):
        lines += _render(root.commands[name], ["florabert", name], 2)
    return markdown.replace(MARKER, "\n".join(lines))
