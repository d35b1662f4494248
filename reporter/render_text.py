"""The report as plain text: what the email's text part and the terminal preview show.

Everything here is derived from the signed document alone, so what the partner reads is what
the signature covers. The words are for a partner who is not technical: what happened, what
Candor could not see, and what they might do (check in, listen), never a verdict.
The phrase helpers are shared with the HTML rendering so both say the same thing.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config import duration_words, rough_duration_words
from agent.config.printable import printable
from reporter.alert_report import lines as alert_lines
from reporter.document import (
    AnchorGap,
    BypassEntry,
    ChangeEntry,
    ClockAnomaly,
    Continuity,
    Counts,
    DayCounts,
    Document,
    Gap,
    MoreHosts,
    Passthroughs,
    SearchEntry,
    ZoneChange,
)

WIDTH = 72
BAR = 24

SUPPORT = (
    "If either of you wants more support, a counsellor, a support group or a trusted friend "
    "can help; you do not have to carry this alone."
)


def zone_of(document: Document) -> tzinfo:
    """The person's time zone from the document, so times read as they lived them."""
    try:
        return ZoneInfo(document.period.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.fromisoformat(document.period.start).tzinfo or ZoneInfo("UTC")


def local(text: str, zone: tzinfo, fmt: str = "%a %d %b %H:%M") -> str:
    """An RFC 3339 time shown in `zone`."""
    try:
        return datetime.fromisoformat(text).astimezone(zone).strftime(fmt)
    except ValueError:
        return text


def span(start: str, end: str, zone: tzinfo) -> str:
    """A stretch of time in `zone`, short when it stays within a day."""
    a = datetime.fromisoformat(start).astimezone(zone)
    b = datetime.fromisoformat(end).astimezone(zone)
    if a.date() == b.date():
        return f"{a:%a %d %b %H:%M}–{b:%H:%M}"
    return f"{a:%a %d %b %H:%M} – {b:%a %d %b %H:%M}"


def period_span(start: datetime, end: datetime, zone: tzinfo) -> str:
    """A report's period in `zone`, as subjects and titles show it: "29 Nov 18:00 – 6 Dec 18:00"."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    return f"{a.day} {a:%b %H:%M} – {b.day} {b:%b %H:%M}"


def period_words(document: Document) -> str:
    """The report's period in words, in the person's time zone."""
    period = document.period
    start, end = datetime.fromisoformat(period.start), datetime.fromisoformat(period.end)
    return period_span(start, end, zone_of(document))


def period_length_words(document: Document) -> str | None:
    """Why a period is not seven days long (a daylight-saving hour aside), or None."""
    period = document.period
    length = datetime.fromisoformat(period.end) - datetime.fromisoformat(period.start)
    if abs(length - timedelta(days=7)) <= timedelta(hours=1):
        return None
    why = (
        "the report's time zone changed"
        if document.integrity.zone_changes
        else "the report's day or time changed, or Candor was updated"
    )
    return (
        f"This report covers {duration_words(length)}, not seven days, because {why}: it "
        "starts where the last one ended, so no hour is left out."
    )


def _span(minutes: int) -> str:
    return duration_words(timedelta(minutes=minutes))


def plural(n: int, one: str, many: str | None = None) -> str:
    """`n` and a noun that agrees with it."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def headline(document: Document) -> str:
    """One sentence on the whole week: steady, or worth a gentle conversation."""
    attention = document.integrity.attention
    if attention:
        return "A few things in this report may be worth a gentle conversation."
    if document.integrity.coverage.percent is None:
        return "Candor has no record of this week yet, so there is nothing to say about it."
    return "All steady: Candor was watching and nothing weakened the filter."


def counts_words(c: Counts) -> str:
    """Blocked, warned and noted counts in one short line."""
    return f"{c.block} blocked · {c.warn} warned · {c.log} noted"


def change_words(document: Document) -> str | None:
    """How this week compares with the last one, or None for a first report."""
    before = document.summary.previous_week
    if before is None:
        return None
    now = document.summary.totals
    diff = now.block - before.block
    if diff == 0:
        trend = "the same number of blocks as"
    elif diff < 0:
        trend = f"{-diff} fewer blocked than"
    else:
        trend = f"{diff} more blocked than"
    return f"{trend} last week ({counts_words(before)})"


def coverage_words(document: Document) -> str:
    """How much of the time the computer was (or may have been) on Candor watched, in words."""
    c = document.integrity.coverage
    if c.percent is None:
        return "Candor has no record of the computer being on this week."
    unknown = c.no_record_minutes or 0
    if not unknown:
        return (
            f"Candor was watching for {_span(c.monitored_minutes)} of the "
            f"{_span(c.awake_minutes)} the computer was awake ({c.percent}%)."
        )
    return (
        f"Candor was watching for {_span(c.monitored_minutes)} of the "
        f"{_span(c.awake_minutes + unknown)} the computer was, or may have been, on "
        f"({c.percent}%): for {_span(unknown)} of it Candor has no record at all."
    )


GAP_TITLES = {
    "asleep": "asleep",
    "off": "off or restarting",
    "agent_not_running": "on, but Candor was not running",
    "agent_stopped": "Candor was stopped",
    "clock_changed": "clock changed",
    "no_data": "no record",
}


def stop_words(gap: Gap, zone: tzinfo) -> str:
    """A stop while the computer was on: "Candor was stopped for 3 minutes on Tue 1 Dec at…"."""
    moment = datetime.fromisoformat(gap.start).astimezone(zone)
    length = _span(gap.minutes) if gap.minutes else "less than a minute"
    words = f"{gap.note or GAP_TITLES[gap.kind]} for {length} on {moment:%a} {moment.day} "
    words += f"{moment:%b} at {moment:%H:%M}"
    if gap.asleep_minutes:
        words += f" (the computer was asleep for {_span(gap.asleep_minutes)} of it)"
    return words + "."


def gap_words(gap: Gap, zone: tzinfo) -> str:
    """One gap: when, what happened, and how long."""
    if gap.kind == "agent_stopped":
        return stop_words(gap, zone)
    if gap.kind == "clock_changed":
        moved = gap.note or GAP_TITLES[gap.kind]
        return f"{local(gap.start, zone)}: {moved} (it then read {local(gap.end, zone)})"
    when = span(gap.start, gap.end, zone)
    extra = ""
    if gap.kind == "clock_changed" or (gap.kind == "agent_not_running" and gap.awake_minutes):
        extra = f"; awake without Candor: {_span(gap.awake_minutes)}"
    return f"{when}: {gap.note or GAP_TITLES[gap.kind]} ({_span(gap.minutes)}{extra})"


def change_line(change: ChangeEntry, zone: tzinfo) -> str:
    """One loosening: when, what, and when it takes effect."""
    words = f"{local(change.time, zone)}: {change.description}"
    if change.detail:
        words += f" ({', '.join(change.detail)})"
    if change.pending_until:
        words += f"; takes effect {local(change.pending_until, zone)}"
    if change.while_stopped:
        words += " (edited while Candor was stopped)"
    return words


def journal_words(document: Document) -> str:
    """Whether Candor's record is intact and continues last week's."""
    j = document.integrity.journal
    if not j.ok:
        return f"Candor's record was changed after it was written (at row {j.first_bad_seq})."
    words = f"Candor's record is intact ({plural(j.checked, 'entry', 'entries')} checked)"
    if j.extends_previous is True:
        words += " and continues the one last week's report described."
    elif j.extends_previous is False:
        words += ", but it no longer matches the one last week's report described."
    else:
        words += "."
    return words


def key_words(document: Document) -> str:
    """Which key signed the report, and whether it is new."""
    k = document.integrity.signing_key
    words = f"Signed with key {k.fingerprint}"
    if first_report(document):
        return words + ". This is your first report: compare this key with your invitation's."
    if k.changed_since_previous_report:
        words += " — a different key from last week's report (Candor was reinstalled or reset)"
    elif k.new_this_period:
        words += " — a new key this week"
    return words + "."


def person_words(document: Document) -> str:
    """The person as the partner knows them: their name from `candor init`, else "the person"."""
    return document.integrity.consent.person or "the person"


def sentence(words: str) -> str:
    """`words` starting with a capital, the rest as it is ("the person" -> "The person")."""
    return words[:1].upper() + words[1:]


def first_report(document: Document) -> bool:
    """Whether this is the partner's first report (nothing before it to compare keys with)."""
    return document.seq <= 1 and document.prev_report_hash is None


def consent_words(document: Document) -> str:
    """When the person last agreed to share."""
    c = document.integrity.consent
    if c.last_given is None:
        return "Consent to share: not recorded yet (this is a preview)."
    zone = zone_of(document)
    day = local(c.last_given, zone, "%d %b %Y")
    words = f"{sentence(person_words(document))} last agreed to share these reports on {day}."
    if c.renewal_due:
        words += " Candor is asking them to renew that agreement."
    return words


def delivery_words(document: Document) -> str:
    """Whether the report was built on time (and if not, why), whether it was rebuilt, and
    whether it can be shown to continue the previous one."""
    i = document.integrity
    words = [i.late_reason or "This report was built on time."]
    if document.rebuilt is not None:
        words.append(document.rebuilt.reason)
    if document.continuity is not None:
        words.append(continuity_words(document.continuity))
    return " ".join(words)


def continuity_words(c: Continuity) -> str:
    """Whether this report continues the previous one, as the partner reads it."""
    n = c.previous.seq
    if c.shown:
        return f"It continues report #{n}."
    return f"Candor cannot show that this continues report #{n}: {c.reason or 'unknown'}."


def search_words(q: SearchEntry, zone: tzinfo) -> str:
    """One search in a watched category, in words."""
    terms = q.terms or "(not recorded)"
    return f'{local(q.time, zone)} · {q.engine or "search"}: "{terms}" ({q.category}, {q.decision})'


def bypass_words(b: BypassEntry, zone: tzinfo) -> str:
    """One sign of getting around the filter, as a plain sentence (never the raw term)."""
    sentence = BYPASS_WORDS.get(b.what, BYPASS_UNKNOWN)
    detail = f" ({b.detail})" if b.detail else ""
    return f"{local(b.time, zone)}: {sentence}{detail}."


BYPASS_WORDS = {
    "DoH": "A browser tried to look up sites privately (DNS over HTTPS), around the filter",
    "proxy unset": "The proxy setting that sends traffic through Candor was switched off",
    "proxy taken over": (
        "Another program took Candor's place at the address the computer sends its traffic to, "
        "so pages may no longer be checked"
    ),
    "CA untrusted": (
        "Candor's certificate was removed from the ones the computer trusts, so secure pages "
        "can no longer be checked"
    ),
    "canary failed": (
        "A test page Candor sends through itself did not come back through the filter: traffic "
        "may be going around Candor"
    ),
    "policy missing": (
        "The browser settings that keep browsers going through Candor were removed or changed"
    ),
    "no traffic while awake": (
        "No web traffic went through Candor for a long time while the computer was awake: a "
        "quiet time, or traffic taking another route"
    ),
    "bypass list": "A service known for getting around filters (a VPN or proxy) was reached",
    "state_edited": (
        "A file in Candor's state folder was edited or deleted by hand; Candor ignored it and "
        "kept to its journal"
    ),
    "channel_edited": (
        "Where reports go (the partner's address, the mail server or the webhook) was changed "
        "by hand in config.toml; Candor ignored it and kept sending to the confirmed partner"
    ),
    "held_list_gone": (
        "The kept copy of an imported list was deleted before its cooling-off delay ended"
    ),
    "capture_removed": (
        "Candor's firewall table, which sends every app's traffic through Candor, was removed"
    ),
    "capture_changed": (
        "Candor's firewall table, which sends every app's traffic through Candor, was changed"
    ),
    "capture_taken_over": "Another program took the ports Candor's capture leads to",
    "probe_missing": (
        "Candor's regular test connection, made as an ordinary user, stopped reaching it"
    ),
}
"""The self-check's and the filter's findings (the `what` the agent journals), as the partner
reads them. The one owner of these sentences; a term not listed reads as `BYPASS_UNKNOWN`."""

BYPASS_UNKNOWN = "Candor's self-check found something that can get around the filter"


def pulled_in_note(who: str) -> str:
    """Why some blocks are not the person's doing, in the partner's words."""
    return (
        f"A page {who} visits can load pictures, ads or frames from other sites without them "
        f'choosing to. Those are counted as "pulled in by a page", not as sites {who} opened.'
    )


def origin_lines(document: Document) -> list[str]:
    """The week's counts by who chose the page; empty when Candor could not tell any apart
    (reports built before it could)."""
    o = document.summary.origins
    if o is None or not (o.opened.total or o.pulled_in.total):
        return []
    lines = [
        f"Pages {person_words(document)} opened: {counts_words(o.opened)}",
        f"Pulled in by other pages, not opened: {counts_words(o.pulled_in)}",
    ]
    if o.unknown.total:
        lines.append(f"Candor could not tell which: {counts_words(o.unknown)}")
    return lines


def lookup_lines(document: Document) -> list[str]:
    """Blocked names programs looked up through Candor's DNS, apart from pages (none: empty)."""
    n = document.summary.looked_up
    if not n:
        return []
    return [
        f"Blocked names looked up by a program: {n} (not visits: browsers look names up "
        "ahead of time, so these are not counted above)"
    ]


def help_search_lines(document: Document) -> list[str]:
    """Searches for help or recovery, said kindly (none: empty)."""
    n = document.summary.help_searches
    if not n:
        return []
    return [f"Searches for help or recovery: {n}. A good sign, and a kind thing to talk about."]


def origin_words(total: int, opened: int | None, pulled_in: int | None,
                 by: list[str] | None, *, who: str) -> str | None:  # fmt: skip
    """Whether the person opened a site or a page pulled it in, in a few words (None: unknown)."""
    opened, pulled_in = opened or 0, pulled_in or 0
    pages = f"a page on {', '.join(by)}" if by else "a page"
    if total and opened == total:
        return f"opened by {who}"
    if total and pulled_in == total:
        return f"pulled in by {pages}, not opened"
    if opened or pulled_in:
        return f"{opened} opened by {who}, {pulled_in} pulled in by {pages}"
    return None


def more_hosts_words(m: MoreHosts, who: str) -> str:
    """A group of hosts not listed one by one: "and 9,970 more hosts under example.test"."""
    hosts = f"{m.hosts:,} more {'host' if m.hosts == 1 else 'hosts'}"
    if m.site is not None:
        where = f"under {m.site}"
    else:
        n = m.sites or 0
        where = f"on {n:,} other {'site' if n == 1 else 'sites'}" if n else "on other sites"
    words = f"And {hosts} {where} ({m.category or 'no category'}): {counts_words(m)}"
    if (how := origin_words(m.total, m.opened, m.pulled_in, m.pulled_in_by, who=who)) is not None:
        words += f"; {how}"
    return words


def pinned_words(p: Passthroughs) -> str | None:
    """Connections an app would not let Candor check (it refused Candor's certificate), which
    Candor then let through unchecked for that app."""
    if not p.count:
        return None
    said = (
        "An app refused Candor's certificate, so Candor let its connections through unchecked: "
        + plural(p.count, "time")
    )
    if p.programs:
        said += f", by {', '.join(p.programs)}"
    if p.hosts:
        said += f", on {', '.join(p.hosts)}"
    return said + "."


def anomaly_words(anomaly: ClockAnomaly, document: Document) -> str:
    """Rows stamped outside the period: how many, how far, what it probably means."""
    period = document.period
    if anomaly.side == "before":
        far = datetime.fromisoformat(period.start) - datetime.fromisoformat(anomaly.earliest)
        where, probably = "before", "set back"
    else:
        far = datetime.fromisoformat(anomaly.latest) - datetime.fromisoformat(period.end)
        where, probably = "after", "set forward"
    events = plural(anomaly.count, "event")
    were = "was" if anomaly.count == 1 else "were"
    words = (
        f"{events} {were} stamped up to {rough_duration_words(far)} {where} this week: "
        f"the computer's clock was probably {probably}."
    )
    if anomaly.decisions:
        pages = plural(anomaly.decisions, "blocked, warned or noted page")
        words += f" They include {pages}, counted above."
    return words


def zone_words(change: ZoneChange, zone: tzinfo) -> str:
    """A change of the report's time zone, and why it leaves no hour unreported."""
    moment = local(change.time, zone, "%a %d %b")
    return (
        f"On {moment} the report's time zone changed from {change.previous or 'another'} to "
        f"{change.current or 'another'}. Each report starts where the last one ended, so no "
        "hour is left out."
    )


def day_label(iso_date: str) -> str:
    """A date as a short day label."""
    return f"{datetime.fromisoformat(iso_date):%a %d %b}"


def days_note(document: Document) -> str:
    """Which days of the chart are partial (the period starts and ends at the report time)."""
    zone = zone_of(document)
    start = datetime.fromisoformat(document.period.start).astimezone(zone)
    end = datetime.fromisoformat(document.period.end).astimezone(zone)
    return (
        f"{start:%a} {start.day} {start:%b} from {start:%H:%M}, "
        f"{end:%a} {end.day} {end:%b} until {end:%H:%M}"
    )


def outside_days(document: Document) -> list[DayCounts]:
    """Days outside the period that hold counted events (a changed clock)."""
    return [d for d in document.summary.days if d.outside_period]


def _item(out: list[str], marker: str, text: str) -> None:
    """A list item wrapped to the width, continuation lines under its text."""
    out.extend(
        textwrap.wrap(text, WIDTH, initial_indent=f"    {marker} ", subsequent_indent="      ")
    )


def bar(value: int, top: int, width: int = BAR) -> str:
    """A text bar as long as `value` is against `top`, for the charts."""
    if top <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(width * value / top))


def render(document: Document) -> str:
    """The whole report as text, one section after another, from the signed document alone."""
    zone = zone_of(document)
    out: list[str] = []
    for section in (
        _greeting,
        _conversation,
        _this_week,
        _websites,
        _searches,
        _integrity_head,
        _integrity_facts,
        _anchors,
        _alerts,
        _closing,
    ):
        out.extend(section(document, zone))
    return printable("\n".join(out), keep="\n") + "\n"  # hosts and searches came from pages


def _greeting(document: Document, zone: tzinfo) -> list[str]:
    """Title, week, the greeting and the headline with what may need attention."""
    partner = document.partner.name or "there"
    out = [
        f"Candor weekly report · {document.device}",
        f"{period_words(document)} ({document.period.timezone}) · report #{document.seq}",
        "",
        f"Hello {partner},",
        "",
        headline(document),
    ]
    for line in document.integrity.attention:
        out.extend(textwrap.wrap(line, WIDTH, initial_indent="  • ", subsequent_indent="    "))
    if (length := period_length_words(document)) is not None:
        out.append("")
        out.extend(textwrap.wrap(length, WIDTH))
    out.append("")
    return out


QUESTION_LEAD = "A good question to ask:"
"""What comes before the one question of "For your conversation", in text and HTML."""


def _conversation(document: Document, zone: tzinfo) -> list[str]:
    """A few kind notes on the week and one question to open the check-in with (absent in
    reports built before it)."""
    talk = document.conversation
    if talk is None:
        return []
    out = ["FOR YOUR CONVERSATION"]
    for note in talk.notes:
        out.extend(textwrap.wrap(note, WIDTH, initial_indent="  • ", subsequent_indent="    "))
    out.extend(
        textwrap.wrap(f'{QUESTION_LEAD} "{talk.question}"', WIDTH, initial_indent="  ",
                      subsequent_indent="  ")
    )  # fmt: skip
    out.append("")
    return out


def days_without_block(document: Document) -> tuple[int, int] | None:
    """Days of the period with no block, and the days it touches; None when Candor has no
    record of the week (every day would look blockless)."""
    if document.integrity.coverage.percent is None:
        return None
    inside = [d for d in document.summary.days if not d.outside_period]
    return sum(1 for d in inside if d.block == 0), len(inside)


def days_without_block_words(document: Document) -> str | None:
    """The days without a block, said as what went well, never as a count that fell to 0."""
    counted = days_without_block(document)
    if counted is None:
        return None
    clear, days = counted
    if clear == 0:
        return "Candor stepped in on every day this week."
    if clear == days:
        return "No blocks on any day this week."
    return f"Days without a block this week: {clear} of {days}"


def _this_week(document: Document, zone: tzinfo) -> list[str]:
    """The counts: totals, the trend, per category."""
    s = document.summary
    out = ["THIS WEEK", f"  {counts_words(s.totals)}"]
    out.extend(f"  {line}" for line in origin_lines(document))
    out.extend(f"  {line}" for line in lookup_lines(document))
    if (trend := change_words(document)) is not None:
        out.append(f"  That is {trend}.")
    if (days := days_without_block_words(document)) is not None:
        out.append(f"  {days}")
    out.append(f"  Warnings clicked through: {s.warn_continues}")
    out.append(f'  "This was a mistake" requests: {s.unblock_requests}')
    if s.searches_flagged:
        out.append(f"  Searches in watched categories: {s.searches_flagged}")
    out.extend(f"  {line}" for line in help_search_lines(document))
    out.append("")
    out.append("  By category")
    for c in s.categories:
        action = f" ({c.action})" if c.action else ""
        out.append(f"    {c.category + action:<26} {counts_words(c)}")
    out.append("")
    return out + _charts(document)


def _charts(document: Document) -> list[str]:
    """Blocked and warned per day and per part of the day, as bars."""
    s = document.summary
    out = ["  By day (blocked and warned)"]
    top = max((d.block + d.warn for d in s.days), default=0)
    for d in s.days:
        n = d.block + d.warn
        mark = " *" if d.outside_period else ""
        out.append(f"    {day_label(d.date)}  {bar(n, top):<{BAR}} {n}{mark}")
    out.append(f"    ({days_note(document)})")
    if outside_days(document):
        out.append("    * outside this week: the clock was changed (see Integrity)")
    out.append("")
    out.append("  By time of day (blocked and warned)")
    slots = [("night   00–06", range(0, 6)), ("morning 06–12", range(6, 12)),
             ("day     12–18", range(12, 18)), ("evening 18–24", range(18, 24))]  # fmt: skip
    sums = [sum(s.hours[h].block + s.hours[h].warn for h in hours) for _, hours in slots]
    for (name, _), n in zip(slots, sums, strict=True):
        out.append(f"    {name}  {bar(n, max(sums)):<{BAR}} {n}")
    out.append("")
    return out


def _websites(document: Document, zone: tzinfo) -> list[str]:
    """Blocked and flagged websites, at the levels that share them."""
    if document.domains is None:
        return []
    who = person_words(document)
    out = ["WEBSITES"]
    if not document.domains:
        out.append("  None this week.")
    for d in document.domains:
        how = origin_words(d.total, d.opened, d.pulled_in, d.pulled_in_by, who=who)
        line = f"{d.host} ({d.category or 'no category'}): {counts_words(d)}"
        out.append(f"  {line}" + (f"; {how}" if how else ""))
        if d.times:
            out.append("    at " + ", ".join(local(t, zone) for t in d.times))
    for m in document.more_domains or []:
        out.append(f"  {more_hosts_words(m, who)}")
    if any(d.pulled_in for d in document.domains) or document.more_domains:
        out.extend(textwrap.wrap(pulled_in_note(who), WIDTH, initial_indent="  ",
                                 subsequent_indent="  "))  # fmt: skip
    out.append("")
    return out


def _searches(document: Document, zone: tzinfo) -> list[str]:
    """Searches in watched categories, at the detailed level only."""
    if document.searches is None:
        return []
    out = ["SEARCHES IN WATCHED CATEGORIES"]
    if not document.searches:
        out.append("  None this week.")
    for q in document.searches:
        out.append(f"  {search_words(q, zone)}")
    out.append("")
    return out


def _integrity_head(document: Document, zone: tzinfo) -> list[str]:
    """Coverage, gaps and the changes that made filtering less (or more) strict."""
    i = document.integrity
    out = ["INTEGRITY (always included)"]
    out.extend(textwrap.wrap(coverage_words(document), WIDTH, initial_indent="  ",
                             subsequent_indent="  "))  # fmt: skip
    shown = [g for g in i.gaps if g.kind != "asleep" or g.minutes >= 60]
    if shown:
        out.append("  Gaps:")
        for g in shown:
            _item(out, "!" if g.flagged else "-", gap_words(g, zone))
    else:
        out.append("  No gaps.")
    if i.loosening:
        out.append("  Changes that made filtering less strict:")
        for c in i.loosening:
            _item(out, "-", change_line(c, zone))
    else:
        out.append("  No changes made filtering less strict.")
    if i.tightening:
        out.append(f"  Changes that made filtering stricter: {i.tightening}")
    if i.pending:
        out.append(
            "  Waiting for the cooling-off delay (the stricter rule stays in force until then):"
        )
        for c in i.pending:
            _item(out, "-", change_line(c, zone))
    return out


def _integrity_facts(document: Document, zone: tzinfo) -> list[str]:
    """Clock and zone, bypass signs, unfiltered apps, stops, losses, and the record, consent,
    key and timing."""
    i = document.integrity
    out: list[str] = []
    if i.clock_anomalies:
        out.append("  The computer's clock:")
        for anomaly in i.clock_anomalies:
            _item(out, "!", anomaly_words(anomaly, document))
    for change in i.zone_changes or []:
        out.extend(textwrap.wrap(zone_words(change, zone), WIDTH, initial_indent="  ",
                                 subsequent_indent="  "))  # fmt: skip
    if i.bypass:
        out.append("  Signs of getting around the filter:")
        for b in i.bypass:
            _item(out, "-", bypass_words(b, zone))
    else:
        out.append("  No signs of getting around the filter.")
    if (pinned := pinned_words(i.pinned_passthroughs)) is not None:
        out.extend(textwrap.wrap(pinned, WIDTH, initial_indent="  ", subsequent_indent="  "))
    if i.agent.unclean_stops:
        out.append(f"  Candor stopped unexpectedly {plural(i.agent.unclean_stops, 'time')}.")
    if i.events_lost:
        out.append(f"  Events Candor could not record: {i.events_lost}")
    if i.delivery_failures:
        out.append(f"  Failed delivery attempts recorded this week: {i.delivery_failures}")
    out.append(f"  {journal_words(document)}")
    out.append(f"  {consent_words(document)}")
    out.append(f"  {key_words(document)}")
    out.append(f"  {delivery_words(document)}")
    out.append("")
    return out


ANCHOR_GAP_WORDS = {
    "offline": "the computer was offline or the time-stamping service could not be reached",
    "refused": "the time-stamping service refused to sign",
    "bad_reply": "the time-stamping service's answer did not check out",
    "not_asked": "Candor was running but did not ask for one",
    "off": "time anchoring was turned off",
}
"""Why an hour has no time anchor, in the partner's words."""


def anchor_gap_words(gap: AnchorGap, zone: tzinfo) -> str:
    """One stretch of hours with no time anchor, and why."""
    a = datetime.fromisoformat(gap.start).astimezone(zone)
    b = datetime.fromisoformat(gap.end).astimezone(zone)
    if a.date() == b.date() or b == (a + timedelta(days=1)).replace(hour=0, minute=0):
        when = f"from {a:%H:%M} to {b:%H:%M} on {a:%a} {a.day} {a:%b}"
    else:
        when = f"from {a:%a} {a.day} {a:%b} {a:%H:%M} to {b:%a} {b.day} {b:%b} {b:%H:%M}"
    return f"No time anchor {when}: {ANCHOR_GAP_WORDS[gap.reason]}."


def anchor_words(document: Document) -> list[str]:
    """The report's public time anchors in sentences: on or off, how many, which hours have
    none and why. Empty for a report built before anchors."""
    anchors = document.anchors
    if anchors is None:
        return []
    zone = zone_of(document)
    out: list[str] = []
    for change in anchors.changes:
        at = datetime.fromisoformat(change.time).astimezone(zone)
        state = "turned on again" if change.enabled else "turned off"
        out.append(f"Time anchoring was {state} on {at:%a} {at.day} {at:%b} at {at:%H:%M}.")
    if not anchors.enabled:
        out.append(
            "Time anchoring is off: nothing outside this computer shows that the record "
            "behind this report was not rewritten later."
        )
    if anchors.count:
        latest = datetime.fromisoformat(anchors.tokens[-1].time).astimezone(zone)
        out.append(
            f"A public time-stamping service signed the state of Candor's record "
            f"{'once' if anchors.count == 1 else f'{anchors.count} times'} this period "
            f"(the latest on {latest:%a} "
            f"{latest.day} {latest:%b} at {latest:%H:%M}). Any later change to the record "
            f"before then would show."
            + (f" All the tokens are in {anchors.attachment}." if anchors.attachment else "")
        )
    elif anchors.enabled and not anchors.missing:
        out.append("No time anchors yet this period.")
    out.extend(anchor_gap_words(g, zone) for g in anchors.missing)
    return out


def _anchors(document: Document, zone: tzinfo) -> list[str]:
    """Public time anchors: on or off, how many, and the hours without one."""
    return _listed("PUBLIC TIME ANCHORS", anchor_words(document))


def _alerts(document: Document, zone: tzinfo) -> list[str]:
    """Immediate alerts: on or off, how many were sent and of what kind, changes to them."""
    return _listed("IMMEDIATE ALERTS", alert_lines(document.alerts, zone))


def _listed(title: str, lines: list[str]) -> list[str]:
    """A titled part of `- ` items and a blank line; nothing when there are no lines."""
    if not lines:
        return []
    out = [title]
    for line in lines:
        _item(out, "-", line)
    out.append("")
    return out


def _closing(document: Document, zone: tzinfo) -> list[str]:
    """What the partner can do, and how to check the report."""
    out = [
        "WHAT YOU CAN DO",
        "  You do not need to fix anything. A short check-in is enough: ask how the week went,",
        "  and listen. If something above looks odd, ask about it openly; there is often a",
        "  simple explanation (a trip, a flat battery, a new computer).",
    ]
    out.extend(textwrap.wrap(SUPPORT, WIDTH, initial_indent="  ", subsequent_indent="  "))
    out.append("")
    out.append("CHECKING THIS REPORT")
    out.append(
        f"  Report #{document.seq}, signed by {document.integrity.signing_key.fingerprint}. "
        "Compare this"
    )
    out.append("  fingerprint with the one in your invitation. The attachments let you check the")
    out.append("  signature yourself: candor verify, ssh-keygen -Y verify or openssl pkeyutl.")
    out.extend(
        textwrap.wrap(stopping_words(document), WIDTH, initial_indent="  ", subsequent_indent="  ")
    )
    return out


STOP_COMMAND = "candor partner revoke"
"""The command that stops reports, as the CLI spells it (tests check it parses)."""


def stopping_words(document: Document) -> str:
    """How the partner stops reports, honestly: replies reach no one who acts on them."""
    return (
        f"To stop these reports, ask {person_words(document)} to run `{STOP_COMMAND}`; it takes "
        "effect at once. Replying to this email does not stop them: Candor does not read replies."
    )
