"""The status page's content, `http://candor.invalid/`: what `candor status` says, for a browser.

Only looks: every change is still made with the `candor` command (journaled, with the
cooling-off), and the page says so. Every value is escaped; the page frame, its style and its
security headers come from `agent.proxy.pages`.
"""

from __future__ import annotations

import html
from datetime import datetime

from agent.config import format_duration
from agent.health.status import Status, ago
from agent.health.status_text import kind_words
from agent.journal import Event

WHY_PATH = "/why"
"""The "why was this blocked?" form's target (GET, `?url=`): it only reads."""
JOURNAL_PATH = "/journal"
"""The journal's newest rows, `?kind=` to choose one kind (GET; it only reads)."""
REPORT_PATH = "/report"
"""The next report, exactly as the partner will see it (GET; built, never sent)."""
JOURNAL_ROWS = 200
"""How many of the newest rows the journal page shows (`candor journal show` has them all)."""
MAX_FIELD = 200
"""A longer value is cut there on the page."""


def status_html(status: Status, why: tuple[str, str] | None = None) -> str:
    """The page's body: state, what needs attention, today, "why was this blocked?", rules,
    waiting changes and temporary allows. `why` is (the URL asked about, the answer)."""
    parts = [
        "<h1>Candor</h1>",
        f"<p>{_e(_running(status))}</p>",
        _problems(status),
        _why_form(why),
        _today(status),
        _rules(status),
        _waiting(status),
        f'<p><a href="{JOURNAL_PATH}">Everything Candor recorded</a> · '
        f'<a href="{REPORT_PATH}">The next report, as your partner will see it</a></p>',
        '<p class="quiet">This page only shows. Changes are made with the <code>candor</code> '
        "command (<code>candor rules</code>, <code>candor category</code>, <code>candor "
        "allow</code>), so each is recorded and waits for your cooling-off time like any "
        "other.</p>",
    ]
    return "\n".join(part for part in parts if part)


def _running(status: Status) -> str:
    a = status.agent
    if a.running:
        beat = f", last heartbeat {ago(status.now, a.last_heartbeat)}" if a.last_heartbeat else ""
        return f"Candor is running on {a.address or 'this computer'}{beat}."
    return "Candor is not running."


def _problems(status: Status) -> str:
    if not status.problems:
        return "<h2>Needs attention</h2>\n<p>Nothing: no problems found.</p>"
    items = "".join(
        f'<li>{_e(p.what)}<br><span class="quiet">{_e(p.fix)}</span></li>' for p in status.problems
    )
    return f"<h2>Needs attention</h2>\n<ul>{items}</ul>"


def _why_form(why: tuple[str, str] | None) -> str:
    asked = _e(why[0]) if why else ""
    answer = f"<p><strong>{_e(why[1])}</strong></p>" if why else ""
    return (
        "<h2>Why was this blocked?</h2>\n"
        f'<form method="get" action="{WHY_PATH}">'
        f'<input type="url" name="url" value="{asked}" placeholder="https://example.com/page" '
        'required maxlength="2048" aria-label="a web address"> '
        '<button class="button" type="submit">Explain</button></form>\n'
        f"{answer}"
    )


def _today(status: Status) -> str:
    decisions = status.today.get("decisions", [])
    if not decisions:
        return "<h2>Today</h2>\n<p>Nothing blocked, warned or logged.</p>"
    rows = "".join(
        f"<tr><td>{_e(r['category'])}</td><td>{_e(r['decision'])}</td>"
        f"<td>{int(r['count']):,}</td></tr>"
        for r in decisions
    )
    others = {k: n for k, n in status.today.get("events", {}).items() if k != "decision"}
    also = ", ".join(kind_words(k, n) for k, n in others.items())
    more = f'<p class="quiet">Also: {_e(also)}.</p>' if also else ""
    return (
        "<h2>Today</h2>\n<table><tr><th>category</th><th>what</th><th>count</th></tr>"
        f"{rows}</table>{more}"
    )


def _rules(status: Status) -> str:
    delay = format_duration(status.cooling_off) if status.cooling_off else "none"
    rows = "".join(
        f"<tr><td>{_e(r['category'])}</td><td>{_e(r['action'])}</td>"
        f"<td>{int(r.get('rules', 0)):,}</td><td>{int(r.get('list_entries', 0)):,}</td></tr>"
        for r in status.categories
    )
    return (
        f"<h2>Rules</h2>\n<p>Cooling-off time: {_e(delay)}.</p>"
        "<table><tr><th>category</th><th>action</th><th>your rules</th><th>from lists</th></tr>"
        f"{rows}</table>"
    )


def _waiting(status: Status) -> str:
    parts = []
    if status.pending:
        items = "".join(
            f"<li>{_e(_when(p.until))}: {_e(p.describe())}</li>" for p in status.pending
        )
        parts.append(f"<h2>Waiting for the cooling-off time</h2>\n<ul>{items}</ul>")
    if status.grants:
        items = "".join(f"<li>{_e(g.host)} until {_e(_when(g.until))}</li>" for g in status.grants)
        parts.append(f"<h2>Temporary allows</h2>\n<ul>{items}</ul>")
    return "\n".join(parts)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%a %d %b %H:%M")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def journal_html(events: list[Event], kind: str | None, kinds: list[str]) -> str:
    """The journal page: a choice of kind, then the newest rows, each as `candor journal show`
    prints it (every value escaped, long ones cut)."""
    options = "".join(
        f'<option value="{_e(k)}"{" selected" if k == kind else ""}>{_e(k)}</option>'
        for k in ["", *kinds]
    )
    rows = "".join(
        f"<tr><td>{e.seq}</td><td>{_e(e.ts[:19].replace('T', ' '))}Z</td><td>{_e(e.kind)}</td>"
        f"<td>{_e(_fields(e))}</td></tr>"
        for e in events
    )
    shown = f"the newest {len(events)} rows" + (f" of kind {kind}" if kind else "")
    return (
        '<h1>What Candor recorded</h1>\n<p><a href="/">Back to the status</a></p>'
        f'<form method="get" action="{JOURNAL_PATH}"><select name="kind" aria-label="kind">'
        f'{options}</select> <button class="button" type="submit">Show</button></form>'
        f'<p class="quiet">{_e(shown)}; <code>candor journal show</code> lists every row and '
        "<code>candor journal verify</code> checks the chain.</p>"
        f"<table><tr><th>row</th><th>time</th><th>kind</th><th>what</th></tr>{rows}</table>"
    )


def _fields(event: Event) -> str:
    text = " ".join(f"{key}={value}" for key, value in event.body.items())
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…"
