"""Views of the device reports: a table of devices with memory bars (text, HTML, widgets), and
the short accounts of ``%device NAME`` and ``%device --move``."""

from __future__ import annotations

import time
from typing import Any

from .common import STYLE, Markup, esc, fmt_bytes, fmt_seconds, html_table, section_html, text_table

__all__ = ["to_text", "to_html", "to_widget"]

_BAR_WIDTH = 20


# -- pieces shared by the three forms ---------------------------------------------------------------


def _used_fraction(d) -> float | None:
    if d.memory_total in (None, 0) or d.memory_free is None:
        return None
    return min(1.0, max(0.0, 1 - d.memory_free / d.memory_total))


def _role(report, d) -> str:
    roles = []
    if d.name == report.default:
        roles.append("default")
    if d.name == report.auto:
        roles.append("auto")
    return ", ".join(roles)


def _free_of_total(d) -> str:
    if d.memory_total is None:
        return "—"
    if d.memory_free is None:
        return f"{fmt_bytes(d.memory_total)} total"
    return f"{fmt_bytes(d.memory_free)} free of {fmt_bytes(d.memory_total)}"


def _held(d) -> str:
    if d.type == "cpu":
        return "—" if d.memory_process is None else f"{fmt_bytes(d.memory_process)} by this process"
    if d.memory_allocated is None and d.memory_reserved is None:
        return "—"
    text = f"{fmt_bytes(d.memory_allocated)} in tensors"
    if d.memory_reserved is not None:
        text += f", {fmt_bytes(d.memory_reserved)} reserved by torch"
    return text


def _about(d) -> str:
    parts = []
    if not d.available:
        parts.append("not available")
    if d.capability and d.type == "cuda":
        parts.append(f"compute capability {d.capability}" if "." in d.capability else d.capability)
    parts += d.details
    return ", ".join(parts) or "—"


def _text_bar(fraction: float | None) -> str:
    if fraction is None:
        return "memory unknown"
    filled = round(fraction * _BAR_WIDTH)
    return "█" * filled + "░" * (_BAR_WIDTH - filled) + f" {fraction:4.0%} used"


def _build_line(build: dict[str, Any]) -> str:
    gpu = f"ROCm {build['hip']}" if build.get("hip") else (f"CUDA {build['cuda']}" if build.get("cuda") else "CUDA: not built")
    parts = [f"torch {build.get('version')}", gpu, f"cuDNN {build['cudnn']}" if build.get("cudnn") else "cuDNN: —"]
    parts.append("MPS built" if build.get("mps") else "MPS: not built")
    if build.get("accelerator"):
        parts.append(f"accelerator: {build['accelerator']}")
    if build.get("cpu_capability"):
        parts.append(f"CPU kernels: {build['cpu_capability']}")
    return " · ".join(parts)


def _headline(report) -> str:
    return f"Devices torch can use — new tensors go to {report.default}; auto would choose {report.auto}"


def _kind(report) -> str:
    return type(report).__name__


# -- text -------------------------------------------------------------------------------------------


def to_text(report) -> str:
    kind = _kind(report)
    if kind == "DefaultDeviceReport":
        return _default_text(report)
    if kind == "MoveReport":
        return _move_text(report)
    rows = [
        [d.name, _role(report, d), d.model or "—", _text_bar(_used_fraction(d)) if d.available else "", _free_of_total(d), _held(d), _about(d)]
        for d in report.devices
    ]
    table = text_table(["device", "role", "model", "memory", "free", "this process", "about"], rows)
    lines = [_headline(report), "", table, "", _build_line(report.torch)]
    lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines)


def _default_text(report) -> str:
    if report.changed:
        lines = [f"New tensors now go to {report.default} (before: {report.previous})."]
    else:
        lines = [f"New tensors already go to {report.default}; nothing changed."]
    d = report.device
    if d is not None and d.type != "meta":
        lines.append(f"{d.name}: {d.model or 'model unknown'}, {_free_of_total(d)}")
    lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines)


def _move_headline(report) -> str:
    moved = [v for v in report.variables if v.moved]
    if not moved:
        names = ", ".join(v.name for v in report.variables)
        return f"Nothing to move: {names} already on {report.device}."
    rate = f", {fmt_bytes(int(report.bytes / report.seconds))}/s" if report.seconds > 0 and report.bytes else ""
    count = f"{len(moved)} variable{'s' if len(moved) != 1 else ''}"
    return f"Moved {count} to {report.device}: {fmt_bytes(report.bytes)} in {fmt_seconds(report.seconds)}{rate}."


def _move_rows(report) -> list[list[str]]:
    return [
        [
            v.name,
            v.kind,
            v.size,
            v.dtype or "—",
            fmt_bytes(v.bytes),
            v.source,
            fmt_seconds(v.seconds) if v.moved else "already there" if v.kind[:4] != "same" else "—",
            v.autograd,
        ]
        for v in report.variables
    ]


_MOVE_HEADERS = ["name", "kind", "shape / size", "dtype", "bytes", "was on", "time", "autograd"]


def _move_text(report) -> str:
    lines = [_move_headline(report), "", text_table(_MOVE_HEADERS, _move_rows(report), "llllrlrl")]
    if report.notes:
        lines.append("")
        lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------------


def _bar_html(fraction: float | None) -> str:
    if fraction is None:
        return '<span class="muted">memory unknown</span>'
    colour = "#cf222e" if fraction > 0.9 else "#d4a72c" if fraction > 0.7 else "#2f81f7"
    return (
        '<span style="white-space:nowrap">'
        '<span style="display:inline-block;width:120px;height:9px;background:#e6e6e6;border-radius:3px;vertical-align:middle">'
        f'<span style="display:block;width:{fraction * 100:.1f}%;height:100%;background:{colour};border-radius:3px"></span></span>'
        f" {fraction:.0%} used</span>"
    )


def _notes_html(notes: list[str]) -> str:
    if not notes:
        return ""
    return "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"


def _devices_table_html(report) -> str:
    rows = [
        [
            Markup(f"<code>{esc(d.name)}</code>"),
            _role(report, d),
            d.model or "—",
            Markup(_bar_html(_used_fraction(d)) if d.available else ""),
            Markup(f'<span style="white-space:nowrap">{esc(_free_of_total(d))}</span>'),
            _held(d),
            _about(d),
        ]
        for d in report.devices
    ]
    return html_table(["device", "role", "model", "memory", "free", "this process", "about"], rows)


def to_html(report) -> str:
    kind = _kind(report)
    if kind == "DefaultDeviceReport":
        body = f"<p>{esc(_default_text(report).splitlines()[0])}</p>"
        d = report.device
        if d is not None and d.type != "meta":
            body += f"<p><code>{esc(d.name)}</code>: {esc(d.model or 'model unknown')}, {esc(_free_of_total(d))} {_bar_html(_used_fraction(d))}</p>"
        return f'{STYLE}<div class="adm">{body}{_notes_html(report.notes)}</div>'
    if kind == "MoveReport":
        table = html_table(_MOVE_HEADERS, _move_rows(report), [False, False, False, False, True, False, True, False])
        return f'{STYLE}<div class="adm"><p>{esc(_move_headline(report))}</p>{table}{_notes_html(report.notes)}</div>'
    body = section_html(_headline(report), _devices_table_html(report))
    body += f'<p class="muted">{esc(_build_line(report.torch))}</p>{_notes_html(report.notes)}'
    return f'{STYLE}<div class="adm">{body}</div>'


# -- widgets ----------------------------------------------------------------------------------------


def to_widget(report):
    """The device table as widgets: one row per device with a memory bar, and a Refresh button
    that reads the devices again. The two short reports are one HTML widget each."""
    import ipywidgets as widgets

    if _kind(report) != "DeviceReport":
        return widgets.HTML(value=to_html(report))

    header = widgets.HTML()
    grid = widgets.GridBox(layout=widgets.Layout(grid_template_columns="minmax(220px, auto) 180px auto", grid_gap="2px 12px"))
    footer = widgets.HTML()
    refresh = widgets.Button(description="Refresh", icon="refresh", tooltip="Read the devices' memory again")

    def show(r, when: str) -> None:
        header.value = f"{STYLE}<div class=\"adm\"><h4>{esc(_headline(r))}</h4><span class=\"muted\">{esc(when)}</span></div>"
        grid.children = tuple(w for d in r.devices for w in _row_widgets(widgets, r, d))
        footer.value = f'{STYLE}<div class="adm"><p class="muted">{esc(_build_line(r.torch))}</p>{_notes_html(r.notes)}</div>'

    def on_refresh(_button) -> None:
        from ..device import devices

        show(devices(), f"read again at {time.strftime('%H:%M:%S')}")

    refresh.on_click(on_refresh)
    show(report, "")
    return widgets.VBox([header, grid, footer, refresh])


def _row_widgets(widgets, report, d) -> list:
    role = _role(report, d)
    title = f"<b><code>{esc(d.name)}</code></b>" + (f' <span class="muted">({esc(role)})</span>' if role else "")
    title += f"<br>{esc(d.model or '—')}"
    label = widgets.HTML(value=f'<div class="adm">{title}</div>')
    fraction = _used_fraction(d)
    if fraction is None or not d.available:
        bar = widgets.HTML(value='<span class="adm muted">' + ("not available" if not d.available else "memory unknown") + "</span>")
    else:
        style = "danger" if fraction > 0.9 else "warning" if fraction > 0.7 else "info"
        bar = widgets.FloatProgress(value=fraction, min=0.0, max=1.0, bar_style=style, description=f"{fraction:.0%}", layout=widgets.Layout(width="180px"))
    numbers = f"{esc(_free_of_total(d))}<br>{esc(_held(d))}<br><span class=\"muted\">{esc(_about(d))}</span>"
    info = widgets.HTML(value=f'<div class="adm">{numbers}</div>')
    return [label, bar, info]
