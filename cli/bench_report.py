"""``verifix bench report``: a batch's output folder as one self-contained HTML page: the
resolve rate, the cost per instance, fixes against dollars, time per instance and per
phase (from each record's ``phases``), and a table linking each instance's own page
(``verifix view``'s, written next to its record).

As with ``html_view``, every string is escaped and the page runs no script."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from . import html_view

STYLE = html_view.STYLE + ".bar{fill:#0550ae} .axis{stroke:#999}"


def _bars(title: str, values: list[float], unit: str) -> str:
    """A small inline SVG bar chart, one bar per instance."""
    if not values:
        return ""
    width, height = 480, 120
    top = max(values) or 1.0
    step = width / len(values)
    bars = "".join(
        f'<rect class="bar" x="{i * step + 1:.1f}" y="{height - (v / top) * (height - 10):.1f}" '
        f'width="{max(step - 2, 1):.1f}" height="{(v / top) * (height - 10):.1f}"/>'
        for i, v in enumerate(values)
    )
    return (
        f"<h2>{escape(title)}</h2>"
        f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'{bars}<line class="axis" x1="0" y1="{height}" x2="{width}" y2="{height}"/></svg>'
        f"<p class='meta'>max {top:.4g} {escape(unit)}</p>"
    )


def _fixes_against_dollars(rows: list[dict[str, Any]]) -> str:
    """Resolved instances as the money spent grows, cheapest instances first."""
    spent, solved, points = 0.0, 0, []
    for row in sorted(rows, key=lambda r: r["cost"]):
        spent += row["cost"]
        solved += bool(row["resolved"])
        points.append((spent, solved))
    if not points:
        return ""
    width, height = 480, 160
    most_cost = points[-1][0] or 1.0
    most = max(len(rows), 1)
    coords = " ".join(
        f"{c / most_cost * width:.1f},{height - 10 - s / most * (height - 20):.1f}"
        for c, s in points
    )
    return (
        "<h2>Fixes against dollars</h2>"
        f'<svg width="{width}" height="{height}" role="img" aria-label="resolved by spend">'
        f'<polyline fill="none" stroke="#116329" stroke-width="2" points="{coords}"/></svg>'
    )


def _labelled_bars(title: str, values: dict[str, float], unit: str) -> str:
    """A horizontal bar per label, its value written beside it."""
    if not values:
        return ""
    width, row, left = 520, 22, 170  # ``left``: room for the longest label
    top = max(values.values()) or 1.0
    room = width - left - 100
    rows = "".join(
        f'<text x="0" y="{i * row + 15}">{escape(label)}</text>'
        f'<rect class="bar" x="{left}" y="{i * row + 4}" height="{row - 8}" '
        f'width="{value / top * room:.1f}"/>'
        f'<text x="{left + value / top * room + 6:.1f}" y="{i * row + 15}">'
        f"{value:.4g} {escape(unit)}</text>"
        for i, (label, value) in enumerate(values.items())
    )
    return (
        f"<h2>{escape(title)}</h2>"
        f'<svg width="{width}" height="{len(values) * row + 4}" role="img" '
        f'aria-label="{escape(title)}">{rows}</svg>'
    )


def _phases(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per phase summed over the instances whose record says (``Run.phases``)."""
    total: dict[str, float] = {}
    for row in rows:
        try:
            phases = json.loads(Path(row["record"]).read_text()).get("phases") or {}
        except (TypeError, OSError, ValueError, AttributeError):
            continue  # no record (an error, a skip) or one this version cannot read
        for phase, seconds in phases.items():
            if isinstance(seconds, int | float):
                total[str(phase)] = total.get(str(phase), 0.0) + seconds
    return total


def _outcomes(rows: list[dict[str, Any]]) -> dict[str, float]:
    """How many instances resolved, verified by verifix but not resolved, and neither."""
    resolved = sum(bool(r["resolved"]) for r in rows)
    verified = sum(r["status"] == "VERIFIED" and not r["resolved"] for r in rows)
    return {
        "resolved": resolved,
        "verified, not resolved": verified,
        "not verified": len(rows) - resolved - verified,
    }


def _label(search: dict[str, Any]) -> str:
    """A batch's search in a few words: "4 candidates, parallel"."""
    n = search.get("candidates", 1)
    strategy = search.get("strategy", "linear")
    return f"{n} candidate{'s' if n != 1 else ''}, {strategy}"


def _across_batches(summaries: list[dict[str, Any]]) -> str:
    """Each batch (this one and the ``--compare`` ones) as a point: what it spent in all
    and what it resolved, labelled with its search, cheapest first: fixes against dollars
    as candidates grow."""
    if len(summaries) < 2:
        return ""
    points = sorted(
        (s["totals"]["cost"], s["totals"]["resolved"], _label(s.get("search") or {}))
        for s in summaries
    )
    width, height, pad = 520, 200, 30
    most_cost = max(c for c, _, _ in points) or 1.0
    most = max(max(s["totals"]["instances"] for s in summaries), 1)

    def at(cost: float, solved: int) -> tuple[float, float]:
        return (
            pad + cost / most_cost * (width - 2 * pad - 120),
            height - pad - solved / most * (height - 2 * pad),
        )

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(c, r) for c, r, _ in points))
    marks = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#116329"/>'
        f'<text x="{x + 8:.1f}" y="{y + 4:.1f}">{escape(label)}: {solved} for ${cost:.2f}</text>'
        for (cost, solved, label), (x, y) in ((p, at(p[0], p[1])) for p in points)
    )
    return (
        "<h2>Fixes against dollars as candidates grow</h2>"
        f'<svg width="{width}" height="{height}" role="img" aria-label="resolved by batch spend">'
        f'<polyline fill="none" stroke="#116329" stroke-width="2" points="{line}"/>{marks}'
        "</svg><p class='meta'>one point per batch: instances resolved against USD spent</p>"
    )


def page(out: Path, compare: list[Path] | None = None) -> str:
    """The report of the batch in ``out`` (its ``summary.json``), writing each instance's
    own page next to its record; ``compare``: other batches' output folders (the same
    instances searched otherwise), drawn against this one."""
    summary = json.loads((out / "summary.json").read_text())
    others = [json.loads((o / "summary.json").read_text()) for o in compare or []]
    rows = summary["instances"]
    totals = summary["totals"]
    table = []
    for row in rows:
        link = ""
        if row.get("record"):
            record = Path(row["record"])
            view = record.with_suffix(".html")
            view.write_text(html_view.page(json.loads(record.read_text())), encoding="utf-8")
            link = f"<a href='{escape(view.relative_to(out).as_posix())}'>run</a>"
        verdict = "ok" if row["resolved"] else "bad"
        table.append(
            f"<tr><td>{escape(row['instance_id'])}</td><td>{escape(row['status'])}</td>"
            f"<td class='{verdict}'>{escape(str(row['resolved']))}</td>"
            f"<td>${row['cost']:.4f}</td><td>{row['seconds']:.0f}</td>"
            f"<td>{escape(row['reason'])}</td><td>{link}</td></tr>"
        )
    n = totals["instances"] or 1
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>verifix bench report</title><style>{STYLE}</style></head><body>"
        "<h1>verifix bench report</h1>"
        f"<p class='resolved'>{totals['resolved']} of {totals['instances']} resolved "
        f"({totals['resolved'] / n:.0%}); {totals['verified']} verified by verifix; "
        f"${totals['cost']:.4f} in all; {totals['seconds']:.0f} s of instance time</p>"
        f"{_labelled_bars('Resolve rate', _outcomes(rows), 'instances')}"
        f"{_bars('Cost per instance', [r['cost'] for r in rows], 'USD')}"
        f"{_fixes_against_dollars(rows)}"
        f"{_across_batches([summary, *others])}"
        f"{_bars('Time per instance', [r['seconds'] for r in rows], 's')}"
        f"{_labelled_bars('Time per phase (all instances)', _phases(rows), 's')}"
        "<h2>Instances</h2><table><tr><th>instance</th><th>status</th><th>resolved</th>"
        f"<th>cost</th><th>seconds</th><th>why</th><th></th></tr>{''.join(table)}</table>"
        "</body></html>"
    )
