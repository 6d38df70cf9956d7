"""One run record as a self-contained HTML page: the issue, the candidates or the search
tree with scores and votes, each attempt's diff and verdict, the conversations, the
exploration steps and the spend over the run.

Everything in a record came from the model, the issue or the code under test, so all of it
is hostile: every string is escaped, the page carries no script at all (folding is
``<details>``), and it loads nothing from anywhere (inline style, inline SVG).
"""

from __future__ import annotations

from html import escape
from typing import Any

from . import show_search

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.2em .5em;
text-align:left;vertical-align:top} pre{background:#f6f8fa;padding:.6em;overflow-x:auto}
.add{color:#116329;background:#dafbe1;display:block} .del{color:#82071e;background:#ffebe9;
display:block} .hunk{color:#0550ae;display:block} .ok{color:#116329;font-weight:bold}
.bad{color:#82071e;font-weight:bold} .meta{color:#555} details{margin:.3em 0}
ul.tree{list-style:none;padding-left:1.2em} .chosen{background:#fff8c5}
"""


def _status(verdict: dict[str, Any] | None) -> str:
    if not verdict:
        return '<span class="bad">UNUSABLE EDIT</span>'
    status = verdict["status"].replace("_", " ")
    css = "ok" if verdict["status"] == "VERIFIED" else "bad"
    return f'<span class="{css}">{escape(status)}</span>'


def diff(patch: str) -> str:
    """A unified diff with added, removed and hunk lines marked."""
    lines = []
    for line in patch.splitlines():
        css = ""
        if line.startswith("+") and not line.startswith("+++"):
            css = "add"
        elif line.startswith("-") and not line.startswith("---"):
            css = "del"
        elif line.startswith("@@"):
            css = "hunk"
        text = escape(line) or " "
        lines.append(f'<span class="{css}">{text}</span>' if css else text + "\n")
    return '<pre class="diff">' + "".join(lines) + "</pre>"


def _tests(verdict: dict[str, Any] | None) -> str:
    if not verdict:
        return ""
    rows = []
    for side in ("targets", "broken"):
        for change in verdict.get(side) or []:
            rows.append(
                f"<tr><td>{side}</td><td>{escape(change['id'])}</td>"
                f"<td>{escape(str(change.get('before')))}</td>"
                f"<td>{escape(str(change.get('after')))}</td></tr>"
            )
    if not rows:
        return ""
    head = "<tr><th></th><th>test</th><th>before</th><th>after</th></tr>"
    return f'<table class="tests">{head}{"".join(rows)}</table>'


def _attempts(data: dict[str, Any], chosen: str | None) -> str:
    parts = [
        '<table class="attempts"><tr><th>attempt</th><th>candidate</th><th>after</th>'
        "<th>result</th><th>why</th><th>cost</th><th>seconds</th></tr>"
    ]
    for attempt in data["attempts"]:
        verdict = attempt["verdict"]
        why = (verdict["reason"] if verdict else attempt["error"]) or ""
        mark = ' class="chosen"' if attempt.get("id") == chosen else ""
        parts.append(
            f"<tr{mark}><td>{escape(str(attempt.get('id', attempt['number'])))}</td>"
            f"<td>{escape(str(attempt.get('candidate', 1)))}</td>"
            f"<td>{escape(str(attempt.get('parent') or ''))}</td>"
            f"<td>{_status(verdict)}</td><td>{escape(why)}</td>"
            f"<td>${attempt['cost']:.4f}</td><td>{attempt['seconds']:.1f}</td></tr>"
        )
    parts.append("</table>")
    for attempt in data["attempts"]:
        name = escape(str(attempt.get("id", attempt["number"])))
        body = diff(attempt["patch"]) if attempt.get("patch") else "<p>(no patch)</p>"
        parts.append(
            f"<details><summary>attempt {name}: {_status(attempt['verdict'])}</summary>"
            f"{body}{_tests(attempt['verdict'])}</details>"
        )
    return "".join(parts)


def _tree(data: dict[str, Any]) -> str:
    scores = (data.get("tree") or {}).get("scores") or {}
    if not scores:
        return ""
    kids = show_search.children(data["attempts"])

    def branch(parent: str | None) -> str:
        items = []
        for attempt in kids.get(parent, []):
            score = scores.get(attempt["id"])
            shown = f"{score:+.2f}" if score is not None else "-"
            items.append(
                f"<li>{escape(attempt['id'])} <span class='meta'>score {shown}</span> "
                f"{_status(attempt['verdict'])}{branch(attempt['id'])}</li>"
            )
        return f'<ul class="tree">{"".join(items)}</ul>' if items else ""

    return "<h2>Search tree</h2>" + branch(None)


def _votes(data: dict[str, Any]) -> str:
    selection = data.get("selection")
    if not selection:
        return ""
    rows = "".join(
        f"<tr><td>{vote['count']}</td><td>{escape(' '.join(vote['attempts']))}</td></tr>"
        for vote in selection["votes"]
    )
    judge = selection.get("judge") or {}
    reason = f"<p>The judge: {escape(judge['reason'])}</p>" if judge.get("reason") else ""
    return f"<h2>Vote</h2><table><tr><th>votes</th><th>attempts</th></tr>{rows}</table>{reason}"


def _spend(data: dict[str, Any]) -> str:
    """Cumulative cost over the attempts, as an inline SVG line."""
    costs = [a["cost"] for a in data["attempts"]]
    if not costs:
        return ""
    total, points = 0.0, []
    for cost in costs:
        total += cost
        points.append(total)
    top = max(points) or 1.0
    width, height = 480, 120
    step = width / max(len(points) - 1, 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 10 - (value / top) * (height - 20):.1f}"
        for i, value in enumerate(points)
    )
    return (
        "<h2>Spend</h2>"
        f'<svg class="spend" width="{width}" height="{height}" role="img" '
        f'aria-label="cumulative cost over {len(points)} attempts">'
        f'<polyline fill="none" stroke="#0550ae" stroke-width="2" points="{coords}"/></svg>'
        f"<p class='meta'>${total:.4f} over {len(points)} attempts</p>"
    )


def _conversations(data: dict[str, Any]) -> str:
    groups = [("localization", (data.get("localization") or {}).get("messages", []))]
    groups.append(("reproduction", (data.get("reproduction") or {}).get("messages", [])))
    fixes = data.get("conversations") or [data.get("messages", [])]
    for number, messages in enumerate(fixes, 1):
        groups.append((f"fix (candidate {number})" if len(fixes) > 1 else "fix", messages))
    parts = ["<h2>Conversations</h2>"]
    for name, messages in groups:
        if not messages:
            continue
        inner = "".join(
            f"<h3>{escape(m['role'])}</h3><pre>{escape(m['content'])}</pre>" for m in messages
        )
        parts.append(f"<details><summary>{escape(name)}</summary>{inner}</details>")
    return "".join(parts)


def _steps(data: dict[str, Any]) -> str:
    steps = data.get("steps") or []
    if not steps:
        return ""
    items = "".join(
        f"<details><summary>{escape(step['id'])}: <code>{escape(step['command'])}</code> "
        f"(exit {step['exit_code']})</summary><pre>{escape(step['output'])}</pre></details>"
        for step in steps
    )
    return f"<h2>Exploration</h2>{items}"


def page(data: dict[str, Any]) -> str:
    """The whole page for one run record."""
    issue = data.get("issue") or {}
    out = data["outcome"]
    title = escape(issue.get("title") or "verifix run")
    tokens = out["prompt_tokens"] + out["completion_tokens"]
    model = escape(str((data.get("model") or {}).get("name") or "unnamed"))
    chosen = (data.get("selection") or {}).get("chosen")
    if chosen is None and out.get("verified_attempt") is not None:
        chosen = next(
            (a.get("id") for a in data["attempts"] if a["number"] == out["verified_attempt"]),
            None,
        )
    patch = diff(out["patch"]) if out.get("patch") else "<p>No patch was accepted.</p>"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1>"
        f"<p class='meta'>model {model}; stopped: {escape(out['stopped'])}; "
        f"${out['cost']:.4f} in {out['calls']} calls, {tokens} tokens; "
        f"started {escape(str(data.get('started', '')))}</p>"
        f"<h2>Issue</h2><pre class='issue'>{escape(issue.get('body') or '')}</pre>"
        f"<h2>Patch</h2>{patch}"
        f"<h2>Attempts</h2>{_attempts(data, chosen)}"
        f"{_tree(data)}{_votes(data)}{_spend(data)}{_steps(data)}{_conversations(data)}"
        "</body></html>"
    )
