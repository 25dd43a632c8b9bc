"""What an analyst sees: step cards, a sequence diagram of a run's calls, and tables people can read.

Every view is self-contained HTML (inline styles, inline SVG: no scripts, no network), so it
renders the same in JupyterLab, in the executed notebook and in nbconvert's HTML, and each
has a plain-text twin for papermill logs and terminals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._escape import html_page, html_table
from .calllog import PHONE_FIELDS, mask_msisdn
from .snap import match_endpoint, parse_response_code, response_message

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

    from .calllog import Call

__all__ = [
    "Arrow",
    "Card",
    "Chart",
    "Diagram",
    "Table",
    "arrows_from_calls",
    "bar_chart_svg",
    "code_meaning",
    "duration",
    "latency_chart",
    "readable_table",
    "response_code_chart",
    "sequence_svg",
]

_STATES = {  # status: (icon, colour, background)
    "done": ("✔", "#176b2c", "#ecf8ef"),
    "refused": ("✖", "#9b1c1c", "#fdecec"),
    "waiting": ("…", "#7a5a00", "#fff7e0"),
    "skipped": ("–", "#6b6280", "#f2f0f7"),
    "ready": ("●", "#4c2a86", "#f2f0f7"),
}


def code_meaning(code: str) -> str:
    """A SNAP responseCode with what it means: ``4035414`` -> ``Insufficient Funds (Direct Debit Payment)``."""
    try:
        parsed = parse_response_code(code)
        return f"{response_message(code)} ({parsed.service})"
    except ValueError:
        return ""


CARD = """<div class="ovo-card ovo-{{ card.status }}" style="border-left:4px solid {{ colour }};\
background:{{ background }};padding:6px 12px;margin:4px 0;border-radius:6px;font-family:system-ui,sans-serif;\
font-size:13px;color:#1f1b2e"><strong style="color:{{ colour }}">{{ icon }} {{ card.status }}</strong> · \
{{ card.title }}
{%- if card.code %}<div><code>{{ card.code }}</code> {{ meaning }}</div>{% endif %}
{%- if card.detail %}<div>{{ card.detail }}</div>{% endif %}
{%- if card.hint %}<div style="color:#4c2a86">what to do: {{ card.hint }}</div>{% endif %}
{%- if card.call_id is not none %}<div style="color:#6b6280">call {{ card.call_id }} in the call log</div>{% endif -%}
</div>"""
"""A step card: every text from the step (title, detail, OVO's message, the hint) escaped by the template."""


@dataclass(frozen=True)
class Card:
    """One step as a small card: its state, title, the SNAP code and meaning, the hint and the call id."""

    title: str
    status: str
    detail: str = ""
    code: str = ""
    hint: str = ""
    call_id: int | None = None

    def text(self) -> str:
        lines = [f"[{self.status}] {self.title}"]
        if self.code:
            lines.append(f"  {self.code} {code_meaning(self.code)}".rstrip())
        if self.detail:
            lines.append(f"  {self.detail}")
        if self.hint:
            lines.append(f"  what to do: {self.hint}")
        if self.call_id is not None:
            lines.append(f"  call {self.call_id} in the call log")
        return "\n".join(lines)

    def html(self) -> str:
        icon, colour, background = _STATES.get(self.status, _STATES["skipped"])
        return html_page(CARD, card=self, icon=icon, colour=colour, background=background,
                         meaning=code_meaning(self.code) if self.code else "")

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return self.text()


# ----------------------------------------------------------------------------- the sequence diagram

LANES = ("Customer / webview", "Partner", "OVO")


@dataclass(frozen=True)
class Arrow:
    """One message between two lanes, in time order; ``ok`` false draws it red."""

    source: str
    target: str
    label: str
    ok: bool = True
    at: str = ""


def _tokens_carried(headers: dict[str, str], bearer: tuple[str, ...], second_call: bool) -> str:
    """Which tokens a logged request carried: its (redacted) headers say whether, the endpoint table which."""
    names = {name.lower() for name in headers}
    carried = []
    if "authorization" in names:
        carried.append(bearer[min(int(second_call), len(bearer) - 1)] if bearer else "token")
    if "authorization-customer" in names:
        carried.append("customer token")
    return " + ".join(carried) or "no token"


def arrows_from_calls(calls: Iterable[Call]) -> list[Arrow]:
    """Each logged call as a request arrow (API, token) and an answer arrow (SNAP code).

    A call after one of the same API answered ``202xxxx`` (in progress) is that API's 2nd call.
    """
    arrows = []
    in_progress: set[str] = set()
    for call in calls:
        api = match_endpoint(call.path)
        name = api.name if api else call.path
        carried = _tokens_carried(call.request_headers, api.bearer if api else (), name in in_progress)
        arrows.append(Arrow("Partner", "OVO", f"{name.replace('_', ' ')} [{carried}]", True, call.started_at))
        code = call.response_code or (f"HTTP {call.status}" if call.status else "no answer")
        (in_progress.add if code.startswith("202") else in_progress.discard)(name)
        ok = code.startswith("2")
        answer = f"{code} {call.response_message or call.error or ''}".strip()
        arrows.append(Arrow("OVO", "Partner", answer[:60], ok, call.started_at))
    return arrows


SEQUENCE = """<svg xmlns="http://www.w3.org/2000/svg" class="ovo-sequence" role="img" \
aria-label="{{ title or 'sequence of calls' }}" width="{{ width }}" height="{{ height }}" \
style="font:12px system-ui,sans-serif;background:#fff">\
<defs><marker id="ovo-head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">\
<path d="M0,0 L8,4 L0,8 z" fill="context-stroke"/></marker></defs>
{%- if title %}<text x="10" y="18" style="font-weight:600">{{ title }}</text>{% endif %}
{%- for name, x in lanes %}<rect x="{{ x - 80 }}" y="26" width="160" height="24" rx="5" fill="#f2f0f7" \
stroke="#d8d2e6"/><text x="{{ x }}" y="42" text-anchor="middle">{{ name }}</text><line x1="{{ x }}" y1="50" \
x2="{{ x }}" y2="{{ height - 10 }}" stroke="#d8d2e6" stroke-dasharray="4 3"/>{% endfor %}
{%- for a in arrows %}<line x1="{{ a.x1 }}" y1="{{ a.y }}" x2="{{ a.end }}" y2="{{ a.y }}" stroke="{{ a.colour }}" \
stroke-width="1.6" marker-end="url(#ovo-head)"{% if a.dashed %} stroke-dasharray="5 3"{% endif %}/><text \
x="{{ a.middle }}" y="{{ a.y - 5 }}" text-anchor="middle" fill="{{ a.colour }}">{{ a.label }}</text>{% endfor -%}
</svg>"""
"""The sequence diagram; the geometry is computed, every label (API, token, OVO's message) escaped by the template."""


def sequence_svg(arrows: Sequence[Arrow], title: str = "") -> str:
    """A sequence diagram: the customer/webview, the partner and OVO as lanes, refusals in red."""
    lane_x = {lane: 110 + i * 260 for i, lane in enumerate(LANES)}
    step, top = 30, 60
    height = top + step * len(arrows) + 30
    drawn = []
    for i, arrow in enumerate(arrows):
        x1, x2 = lane_x[arrow.source], lane_x[arrow.target]
        drawn.append({"x1": x1, "y": top + i * step + 10, "end": x2 - 6 if x2 > x1 else x2 + 6,
                      "middle": (x1 + x2) / 2, "colour": "#4c2a86" if arrow.ok else "#c0392b",
                      "dashed": arrow.source != "Partner", "label": arrow.label})  # answers and callbacks dashed
    return html_page(SEQUENCE, title=title, width=lane_x[LANES[-1]] + 130, height=height, lanes=lane_x.items(),
                     arrows=drawn)


@dataclass(frozen=True)
class Diagram:
    """A sequence diagram for a notebook cell: inline SVG, and the arrows as text for logs."""

    arrows: tuple[Arrow, ...]
    title: str = ""

    def _repr_html_(self) -> str:
        return f'<div class="ovo-diagram" style="overflow-x:auto">{sequence_svg(self.arrows, self.title)}</div>'

    def __repr__(self) -> str:
        return "\n".join(f"{a.source} -> {a.target}: {a.label}{'' if a.ok else '  (refused)'}" for a in self.arrows)


# ----------------------------------------------------------------------------- tables


def duration(seconds: float | None) -> str:
    """A duration as people say it: ``15 days``, ``14 min``, ``40 s``; ``no expiry`` for none."""
    if seconds is None or seconds != seconds:  # None or NaN
        return "no expiry"
    left = timedelta(seconds=max(float(seconds), 0))
    if left.days >= 2:
        return f"{left.days} days"
    if left.total_seconds() >= 3600:
        return f"{int(left.total_seconds() // 3600)} h {int(left.total_seconds() % 3600 // 60)} min"
    if left.total_seconds() >= 60:
        return f"{int(left.total_seconds() // 60)} min"
    return f"{int(left.total_seconds())} s"


@dataclass(frozen=True)
class Table:
    """A table as people read it: HTML through a pandas Styler, and the same as aligned text."""

    frame: pd.DataFrame
    amounts: tuple[str, ...] = ()
    durations: tuple[str, ...] = ()

    def _formatters(self) -> dict[str, Any]:
        formats: dict[str, Any] = {c: amount_text for c in self.amounts}
        formats.update({c: duration for c in self.durations})
        return formats

    def _repr_html_(self) -> str:
        def style(styler: Styler) -> Styler:
            if self.amounts:
                styler = styler.set_properties(subset=list(self.amounts), **{"text-align": "right"})
            return styler.set_table_styles([{"selector": "td, th", "props": "white-space: nowrap; padding: 2px 8px"}])

        return str(html_table(self.frame, self._formatters(), style=style))

    def __repr__(self) -> str:
        if self.frame.empty:
            return "(no rows)"
        shown = self.frame.copy()
        for column, format_ in self._formatters().items():
            shown[column] = shown[column].map(format_)
        return str(shown.to_string(index=False, max_colwidth=None))


def amount_text(value: Any) -> str:
    """IDR as people read it: ``1,500,000.50``; empty for no value."""
    if value is None or value == "" or value != value:
        return ""
    return f"{Decimal(str(value)):,.2f}"


def readable_table(frame: pd.DataFrame, *, amounts: Iterable[str] = (), durations: Iterable[str] = ()) -> Table:
    """``frame`` with amounts right-aligned with thousands separators, durations in words, full
    cell text (no ``...``), no index, no scientific notation, no ``dtype`` footer, and phone
    numbers (columns named as :data:`~ovo_nb.calllog.PHONE_FIELDS`) kept as ``0812****7890``."""
    shown = frame.reset_index(drop=True)
    for column in shown.columns:
        if str(column).lower() in PHONE_FIELDS:
            shown[column] = shown[column].map(lambda phone: mask_msisdn(str(phone)) if phone else phone)
    return Table(shown, tuple(amounts), tuple(durations))


# ----------------------------------------------------------------------------- charts

PALETTE = ("#4c2a86", "#d0473a", "#2f8f5b", "#c98a00", "#3a78c2", "#8a8299")


BARS = """{% if empty %}<p>{{ title }}: nothing to plot.</p>{% else -%}
<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{{ title or 'chart' }}" width="{{ width }}" \
height="{{ legend_y + 16 }}" style="font:11px system-ui,sans-serif;background:#fff">
{%- if title %}<text x="4" y="12" style="font-weight:600">{{ title }}</text>{% endif -%}
<text x="{{ left - 6 }}" y="30" text-anchor="end">{{ top }}{{ unit }}</text><text x="{{ left - 6 }}" \
y="{{ base }}" text-anchor="end">0</text><line x1="{{ left }}" y1="{{ base }}" x2="{{ width - 10 }}" \
y2="{{ base }}" stroke="#bbb"/>
{%- for group in groups %}{% for b in group.bars %}<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ bar - 2 }}" \
height="{{ b.h }}" fill="{{ b.colour }}"><title>{{ group.label }} · {{ b.name }}: {{ b.value }}{{ unit }}</title>\
</rect>{% endfor %}<text x="{{ group.x }}" y="{{ base + 14 }}" text-anchor="middle">{{ group.label }}</text>\
{% endfor %}
{%- for item in legend %}<rect x="{{ item.x }}" y="{{ legend_y }}" width="10" height="10" \
fill="{{ item.colour }}"/><text x="{{ item.x + 14 }}" y="{{ legend_y + 9 }}">{{ item.name }}</text>{% endfor -%}
</svg>{% endif %}"""
"""Grouped bars; the geometry is computed, every label (days, categories, the title) escaped by the template."""


def bar_chart_svg(frame: pd.DataFrame, *, title: str = "", unit: str = "",
                  colours: Mapping[str, str] | None = None) -> str:
    """Grouped bars: one group per row of ``frame``, one bar per column; plain SVG, no scripts."""
    if frame.empty:
        return html_page(BARS, empty=True, title=title)
    series = list(frame.columns)
    colour = {name: (colours or {}).get(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(series)}
    values = frame.astype(float).fillna(0.0)
    top = max(float(values.to_numpy().max()), 1e-9)
    bar, gap, height, left = 16, 18, 170, 70
    longest_label = max(len(str(label)) for label in frame.index)
    group = max(bar * len(series) + gap, 7 * longest_label + 10)  # room for the label under each group
    legend_width = sum(24 + 7 * len(str(name)) for name in series)
    width = max(left + len(frame) * group + 20, left + legend_width, 420)
    groups = []
    for i, label in enumerate(frame.index):
        x = left + i * group + (group - bar * len(series)) / 2
        bars = []
        for j, name in enumerate(series):
            value = float(values.iloc[i, j])
            h = value / top * (height - 10)
            bars.append({"x": f"{x + j * bar:.1f}", "y": f"{height + 20 - h:.1f}", "h": f"{h:.1f}",
                         "colour": colour[name], "name": str(name), "value": f"{value:,.2f}"})
        groups.append({"label": str(label), "x": f"{x + bar * len(series) / 2:.1f}", "bars": bars})
    legend, x = [], left
    for name in series:
        legend.append({"x": x, "name": str(name), "colour": colour[name]})
        x += 24 + 7 * len(str(name))
    return html_page(BARS, empty=False, title=title, unit=unit, width=width, legend_y=height + 58, left=left,
                     top=f"{top:,.0f}", base=height + 20, bar=bar, groups=groups, legend=legend)


@dataclass(frozen=True)
class Chart:
    """A bar chart for a notebook cell: inline SVG, and its numbers as text for logs."""

    frame: pd.DataFrame
    title: str = ""
    unit: str = ""
    colours: tuple[tuple[str, str], ...] = ()

    def svg(self) -> str:
        return bar_chart_svg(self.frame, title=self.title, unit=self.unit, colours=dict(self.colours))

    def _repr_html_(self) -> str:
        return f'<div class="ovo-chart" style="overflow-x:auto">{self.svg()}</div>'

    def __repr__(self) -> str:
        return f"{self.title}\n{self.frame.to_string()}" if self.title else str(self.frame.to_string())


def _api_name(path: str) -> str:
    api = match_endpoint(path)
    return api.name.replace("_", " ") if api else path.split("?", 1)[0]


def response_code_chart(calls: pd.DataFrame) -> Chart:
    """Calls per SNAP response code (HTTP status when there is none), accepted and refused apart.

    ``calls`` is a call-log frame (:meth:`CallLog.to_frame`): every call counts, failures included.
    """
    import pandas as pd

    codes = calls["response_code"].fillna("").astype(str)
    statuses = calls["status"].map(lambda s: "no answer" if s != s or s is None else f"HTTP {int(s)}")
    label = codes.where(codes != "", statuses)
    accepted = codes.str.startswith("2")
    frame = pd.DataFrame({"code": label, "accepted": accepted.astype(int), "refused": (~accepted).astype(int)})
    counted = frame.groupby("code")[["accepted", "refused"]].sum().sort_index()
    return Chart(counted, title="Calls per response code", colours=(("accepted", "#2f8f5b"), ("refused", "#d0473a")))


def latency_chart(calls: pd.DataFrame) -> Chart:
    """Median and 95th-percentile latency per API, in ms, from a call-log frame."""
    frame = calls.assign(api=calls["path"].map(_api_name)).dropna(subset=["latency_ms"])
    grouped = frame.groupby("api")["latency_ms"]
    table = grouped.median().to_frame("median").join(grouped.quantile(0.95).rename("95th percentile"))
    return Chart(table.round(1), title="Latency per API", unit=" ms")
