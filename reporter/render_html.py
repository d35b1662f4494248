"""The report as an HTML email: inline styles only, no images, no scripts, no external files.

Mail clients strip `<style>` blocks and refuse remote content, so every style is inline and the
charts are table cells with a coloured background and a percentage width, which every client
draws. One column, at most 600 px wide, so it reads on a phone without zooming. The same words as
the text part (`render_text`'s phrases), from the same signed document. The invitation and the
notices are drawn with the same card, list and page helpers (`reporter.invitation`).
"""

from __future__ import annotations

from html import escape

from agent.config.printable import printable
from reporter import alert_report
from reporter import render_text as words
from reporter.document import Document

FONT = "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
INK = "#1f2933"
SOFT = "#52606d"
CALM = "#2f855a"
WARM = "#b7791f"
BLOCK = "#4c6ef5"
WARN = "#f0a23b"
CARD = "#ffffff"
PAGE = "#f4f5f7"
WRAP = "overflow-wrap:anywhere;word-break:break-word"
"""Long words (a key fingerprint, a host name) wrap instead of widening the page."""


def escaped(text: object) -> str:
    """Text made safe for HTML: escaped, and no bidi override can disguise a host."""
    return escape(printable(str(text)), quote=True)  # a bidi override cannot disguise a host


MONO = "ui-monospace,Menlo,Consolas,monospace"
CODE = (
    f"font-family:{MONO};font-size:.92em;background:#eef1f4;border-radius:4px;padding:0 3px;" + WRAP
)
"""A command inside a sentence (`candor partner revoke`), set apart as the text's backticks do."""


def prose(text: object) -> str:
    """Candor's own sentence made safe for HTML, a command in backticks shown as code (the
    backticks themselves are the plain text's way of saying it)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick stays as it is
        parts[-2:] = ["`".join(parts[-2:])]
    return "".join(
        f'<code style="{CODE}">{escaped(part)}</code>' if i % 2 else escaped(part)
        for i, part in enumerate(parts)
    )


def card(title: str, body: str, accent: str = "#d9dee3") -> str:
    """One white card of the page, its title in small capitals (none when `title` is empty)."""
    heading = (
        f'<div style="font-size:13px;letter-spacing:.06em;text-transform:uppercase;'
        f'color:{SOFT};margin:0 0 10px 0">{escaped(title)}</div>'
        if title
        else ""
    )
    return (
        f'<tr><td style="padding:0 0 16px 0">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="background:{CARD};border-radius:10px;border-top:4px solid {accent};'
        'table-layout:fixed">'
        f'<tr><td style="padding:16px 18px">{heading}{body}</td></tr></table></td></tr>'
    )


def paragraph(text: str, color: str = INK, size: int = 15) -> str:
    """A paragraph of already escaped HTML, wrapping long words."""
    style = f"margin:0 0 8px 0;font-size:{size}px;line-height:1.5;color:{color};{WRAP}"
    return f'<p style="{style}">{text}</p>'


def _bar_row(label: str, block: int, warn: int, top: int) -> str:
    """A label, a two-colour bar (blocked, warned) and the number."""
    total = block + warn
    cells = ""
    if top > 0 and total > 0:
        b = round(100 * block / top)
        w = round(100 * warn / top)
        if block:
            cells += f'<td style="background:{BLOCK};width:{max(b, 2)}%;height:12px"></td>'
        if warn:
            cells += f'<td style="background:{WARN};width:{max(w, 2)}%;height:12px"></td>'
    cells += '<td style="height:12px"></td>'
    return (
        "<tr>"
        f'<td style="font-size:13px;color:{SOFT};padding:3px 8px 3px 0;white-space:nowrap;'
        f'width:62px">{escaped(label)}</td>'
        '<td style="padding:3px 0"><table role="presentation" width="100%" cellpadding="0" '
        f'cellspacing="0" style="background:#eef1f4;border-radius:3px"><tr>{cells}</tr></table>'
        "</td>"
        f'<td style="font-size:13px;color:{INK};padding:3px 0 3px 8px;text-align:right;'
        f'width:28px">{total}</td>'
        "</tr>"
    )


def _day(iso_date: str, outside: bool) -> str:
    """A day's chart label: "Tue 01", or "21 Nov *" for a day outside the period."""
    label = words.day_label(iso_date)
    return f"{label[4:]} *" if outside else label[:6]


def _chart(rows: list[tuple[str, int, int]]) -> str:
    top = max((b + w for _, b, w in rows), default=0)
    body = "".join(_bar_row(label, b, w, top) for label, b, w in rows)
    return f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0">{body}</table>'


def _legend() -> str:
    dot = "display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 0"
    return (
        f'<div style="font-size:12px;color:{SOFT};margin:6px 0 0 0">'
        f'<span style="{dot};background:{BLOCK}"></span>blocked &nbsp; '
        f'<span style="{dot};background:{WARN}"></span>warned</div>'
    )


def _stat(value: object, label: str) -> str:
    return (
        '<td style="padding:6px 4px;text-align:center;width:33%">'
        f'<div style="font-size:26px;font-weight:600;color:{INK}">{escaped(value)}</div>'
        f'<div style="font-size:12px;color:{SOFT}">{escaped(label)}</div></td>'
    )


def bullets(items: list[str], marker: str = "•") -> str:
    """A list of already escaped HTML items, as a table every mail client draws."""
    lis = "".join(
        f'<tr><td style="vertical-align:top;padding:2px 8px 2px 0;color:{SOFT}">{marker}</td>'
        f'<td style="padding:2px 0;font-size:14px;line-height:1.45;color:{INK};{WRAP}">'
        f"{item}</td></tr>"
        for item in items
    )
    return f'<table role="presentation" cellpadding="0" cellspacing="0">{lis}</table>'


def render(document: Document) -> str:
    """The report as an HTML email, card by card, from the signed document alone."""
    zone = words.zone_of(document)
    s = document.summary
    i = document.integrity
    cards: list[str] = []

    attention = i.attention
    head_color = WARM if attention else CALM
    intro = paragraph(f"Hello {escaped(document.partner.name or 'there')},")
    intro += paragraph(escaped(words.headline(document)), head_color)
    if attention:
        intro += bullets([prose(a) for a in attention])
    if (length := words.period_length_words(document)) is not None:
        intro += paragraph(escaped(length), SOFT, 14)
    cards.append(card("This week", intro, head_color))
    if (talk := _conversation(document)) is not None:
        cards.append(card("For your conversation", talk, CALM))

    stats = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
        + _stat(s.totals.block, "blocked")
        + _stat(s.totals.warn, "warned")
        + _stat(*_days_stat(document))
        + "</tr></table>"
    )
    more = []
    if (trend := words.change_words(document)) is not None:
        more.append(escaped(f"That is {trend}."))
    more.append(escaped(f"Warnings clicked through: {s.warn_continues}"))
    more.append(escaped(f'"This was a mistake" requests: {s.unblock_requests}'))
    if s.totals.log:
        more.append(escaped(f"Noted (allowed, but recorded): {s.totals.log}"))
    more += [escaped(line) for line in words.origin_lines(document)]
    more += [escaped(line) for line in words.lookup_lines(document)]
    if s.searches_flagged:
        more.append(escaped(f"Searches in watched categories: {s.searches_flagged}"))
    more += [escaped(line) for line in words.help_search_lines(document)]
    categories = [
        escaped(f"{c.category}{f' ({c.action})' if c.action else ''}: {words.counts_words(c)}")
        for c in s.categories
    ]
    body = stats + bullets(more) + '<div style="height:10px"></div>'
    body += paragraph("<b>By category</b>", size=14) + bullets(categories)
    cards.append(card("Summary", body))

    days = [(_day(d.date, bool(d.outside_period)), d.block, d.warn) for d in s.days]
    hours = [(f"{h:02d}:00", c.block, c.warn) for h, c in enumerate(s.hours)]
    quiet = [(label, b, w) for label, b, w in hours if b or w]
    hour_body = (
        _chart(quiet) if quiet else paragraph("No blocks or warnings at any hour.", SOFT, 14)
    )
    day_note = paragraph(escaped(words.days_note(document) + "."), SOFT, 12)
    if words.outside_days(document):
        day_note += paragraph(
            "* outside this week: the clock was changed (see Integrity).", WARM, 12
        )
    cards.append(card("By day", _chart(days) + _legend() + day_note))
    cards.append(
        card(
            "By time of day",
            paragraph("When the hard moments came (hours with any activity).", SOFT, 13)
            + hour_body,
        )
    )

    who = words.person_words(document)
    if document.domains is not None:
        rows = [
            escaped(f"{d.host} ({d.category or 'no category'}): {words.counts_words(d)}")
            + escaped(
                _how(words.origin_words(d.total, d.opened, d.pulled_in, d.pulled_in_by, who=who))
            )
            + (
                f'<br><span style="color:{SOFT};font-size:12px">'
                + escaped(", ".join(words.local(t, zone) for t in d.times))
                + "</span>"
                if d.times
                else ""
            )
            for d in document.domains
        ]
        rows += [escaped(words.more_hosts_words(m, who)) for m in document.more_domains or []]
        body = bullets(rows) if rows else paragraph("None this week.", SOFT)
        if any(d.pulled_in for d in document.domains) or document.more_domains:
            body += paragraph(escaped(words.pulled_in_note(who)), SOFT, 13)
        cards.append(card("Websites", body))
    if document.searches is not None:
        rows = [escaped(words.search_words(q, zone)) for q in document.searches]
        cards.append(
            card(
                "Searches in watched categories",
                bullets(rows) if rows else paragraph("None.", SOFT),
            )
        )

    cards.append(card("Integrity (always included)", _integrity(document), head_color))
    if anchor_lines := words.anchor_words(document):
        cards.append(card("Public time anchors", bullets([escaped(line) for line in anchor_lines])))
    if alert_lines := alert_report.lines(document.alerts, zone):
        cards.append(card("Immediate alerts", bullets([escaped(line) for line in alert_lines])))

    care = paragraph(
        "You do not need to fix anything. A short check-in is enough: ask how the week went, "
        "and listen. If something here looks odd, ask about it openly; there is often a simple "
        "explanation (a trip, a flat battery, a new computer)."
    ) + paragraph(escaped(words.SUPPORT), SOFT, 14)
    cards.append(card("What you can do", care, CALM))

    check = paragraph(
        prose(
            f"Report #{document.seq}, signed by {i.signing_key.fingerprint}. Compare this "
            "fingerprint with the one in your invitation. The attachments let you check the "
            "signature yourself with `candor verify`, `ssh-keygen -Y verify` or "
            "`openssl pkeyutl`. " + words.stopping_words(document)
        ),
        SOFT,
        13,
    )
    cards.append(card("Checking this report", check))

    title = f"Candor weekly report · {document.device}"
    subtitle = (
        f"{words.period_words(document)} ({document.period.timezone}) · report #{document.seq}"
    )
    return page(title, subtitle, cards)


def code_block(lines: list[str]) -> str:
    """Lines to type or compare (a key, a command), in a fixed-width font that wraps on a
    phone instead of running off the screen."""
    body = "<br>".join(escaped(line) for line in lines)
    return (
        f'<div style="font-family:{MONO};font-size:13px;'
        f"line-height:1.45;color:{INK};background:#eef1f4;border-radius:6px;padding:8px 10px;"
        f'margin:0 0 10px 0;{WRAP}">{body}</div>'
    )


def page(title: str, subtitle: str, cards: list[str]) -> str:
    """The whole HTML email around its cards: one column, at most 600 px, inline styles only."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escaped(title)}</title></head>"
        f'<body style="margin:0;padding:0;background:{PAGE};font-family:{FONT};color:{INK}">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="background:{PAGE}"><tr><td align="center" style="padding:16px 10px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="max-width:600px">'
        f'<tr><td style="padding:4px 4px 14px 4px">'
        f'<div style="font-size:20px;font-weight:600;color:{INK}">{escaped(title)}</div>'
        + (
            f'<div style="font-size:14px;color:{SOFT}">{escaped(subtitle)}</div>'
            if subtitle
            else ""
        )
        + "</td></tr>"
        + "".join(cards)
        + "</table></td></tr></table></body></html>\n"
    )


def _days_stat(document: Document) -> tuple[str, str]:
    """The third figure of the summary: days without a block, or, when Candor stepped in every
    day, how many days it did (never a bare 0 that reads as failure)."""
    counted = words.days_without_block(document)
    if counted is None:
        return "–", "days without a block"
    clear, days = counted
    if clear == 0:
        return f"{days} of {days}", "days Candor stepped in"
    return f"{clear} of {days}", "days without a block"


def _conversation(document: Document) -> str | None:
    """The notes on the week and the one question, as a card's body (None in reports built
    before it)."""
    talk = document.conversation
    if talk is None:
        return None
    body = bullets([escaped(note) for note in talk.notes]) if talk.notes else ""
    question = f"{escaped(words.QUESTION_LEAD)} <b>{escaped(talk.question)}</b>"
    return body + paragraph(question)


def _how(origin: str | None) -> str:
    """What follows a host's counts: "; opened by the person", or nothing when not known."""
    return f"; {origin}" if origin else ""


def _integrity(document: Document) -> str:
    zone = words.zone_of(document)
    i = document.integrity
    parts = [paragraph(escaped(words.coverage_words(document)))]
    percent = i.coverage.percent
    if percent is not None:
        color = CALM if percent >= 90 else WARM
        parts.append(
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'style="background:#eef1f4;border-radius:4px;margin:0 0 10px 0"><tr>'
            f'<td style="background:{color};width:{max(percent, 1)}%;height:10px;'
            'border-radius:4px"></td><td></td></tr></table>'
        )
    gaps = [g for g in i.gaps if g.kind != "asleep" or g.minutes >= 60]
    if gaps:
        parts.append(paragraph("<b>Gaps</b>", size=14))
        parts.append(
            bullets(
                [
                    (f'<span style="color:{WARM}">' if g.flagged else "<span>")
                    + escaped(words.gap_words(g, zone))
                    + "</span>"
                    for g in gaps
                ]
            )
        )
    else:
        parts.append(paragraph("No gaps.", SOFT, 14))
    if i.loosening:
        parts.append(paragraph("<b>Changes that made filtering less strict</b>", size=14))
        parts.append(bullets([escaped(words.change_line(c, zone)) for c in i.loosening]))
    else:
        parts.append(paragraph("No changes made filtering less strict.", SOFT, 14))
    if i.tightening:
        parts.append(
            paragraph(escaped(f"Changes that made filtering stricter: {i.tightening}"), SOFT, 14)
        )
    if i.pending:
        parts.append(
            paragraph("<b>Waiting for the cooling-off delay</b> (stricter until then)", size=14)
        )
        parts.append(bullets([escaped(words.change_line(c, zone)) for c in i.pending]))
    clock = [escaped(words.anomaly_words(a, document)) for a in i.clock_anomalies or []]
    if clock:
        parts.append(paragraph("<b>The computer's clock</b>", size=14))
        parts.append(bullets([f'<span style="color:{WARM}">{c}</span>' for c in clock]))
    for change in i.zone_changes or []:
        parts.append(paragraph(escaped(words.zone_words(change, zone)), SOFT, 14))
    if i.bypass:
        parts.append(paragraph("<b>Signs of getting around the filter</b>", size=14))
        parts.append(bullets([escaped(words.bypass_words(b, zone)) for b in i.bypass]))
    else:
        parts.append(paragraph("No signs of getting around the filter.", SOFT, 14))
    facts = []
    if (pinned := words.pinned_words(i.pinned_passthroughs)) is not None:
        facts.append(pinned)
    if i.agent.unclean_stops:
        times = words.plural(i.agent.unclean_stops, "time")
        facts.append(f"Candor stopped unexpectedly {times}.")
    if i.events_lost:
        facts.append(f"Events Candor could not record: {i.events_lost}")
    if i.delivery_failures:
        facts.append(f"Failed delivery attempts recorded this week: {i.delivery_failures}")
    facts += [
        words.journal_words(document),
        words.consent_words(document),
        words.key_words(document),
        words.delivery_words(document),
    ]
    parts.append(bullets([escaped(f) for f in facts]))
    return "".join(parts)
