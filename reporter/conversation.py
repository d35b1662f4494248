"""For your conversation: a few kind observations on the week and one good question to open a
check-in with, chosen from the counts and the integrity section alone.

The partner is not technical and the person is in recovery: shame and isolation are what
hurt, so the words name what happened plainly, never judge, and end in one open question.
Only facts every detail level shares are read (counts per hour, gaps, loosening, the count of
help searches), and the words carry no site, no search and no time finer than the hour, so the
part says no more than the summary level allows. It is built once, into the signed document.
"""

from __future__ import annotations

from dataclasses import dataclass

from reporter.document import Conversation, Integrity, Summary

MAX_NOTES = 3
"""At most this many observations: a few lines a partner reads before a call."""
NIGHT_HOURS = (22, 23, 0, 1, 2, 3, 4)
"""22:00 to 05:00 in the person's time zone: late evening and night."""
NIGHT_AT_LEAST = 2
"""Fewer blocked or warned pages at night than this is not a pattern worth a question."""
MANY_BLOCKS = 15
"""From this many blocked pages the person opened, the week reads as a harder one."""
UNWATCHED = ("agent_stopped", "agent_not_running", "no_data")
"""Gap kinds where the computer was (or may have been) on and Candor was not watching."""


@dataclass(frozen=True, slots=True)
class Situation:
    """One thing that happened this week: what the partner is told, and what they might ask."""

    note: str
    question: str


def conversation(summary: Summary, integrity: Integrity) -> Conversation:
    """The notes and the one question for this week, most important first."""
    person = integrity.consent.person
    if integrity.coverage.percent is None:  # nothing recorded: nothing to observe
        return Conversation(notes=[], question="How did this week go?")
    troubles = [
        s
        for s in (_gap(integrity), _loosening(integrity, person), _night(summary),
                  _many_blocks(summary))
        if s is not None
    ]  # fmt: skip
    found = troubles + [s for s in (_help(summary, person),) if s is not None]
    if not troubles:
        found.append(_steady(summary))
    chosen = found[:MAX_NOTES]
    return Conversation(notes=[s.note for s in chosen], question=chosen[0].question)


def _gap(integrity: Integrity) -> Situation | None:
    """Candor stopped, or was not running, while the computer was on."""
    if not any(g.flagged and g.kind in UNWATCHED for g in integrity.gaps):
        return None
    return Situation(
        "Candor was off for part of this week.",
        "Candor was off for a while — how did that time go?",
    )


def _loosening(integrity: Integrity, person: str | None) -> Situation | None:
    """A change that made filtering less strict, done or waiting for its delay."""
    real = [c for c in integrity.loosening if c.kind != "sharing"]
    if not real and not integrity.pending:
        return None
    n = len(real) or len(integrity.pending)
    what = "a setting" if n == 1 else f"settings {n} times"
    if person:
        return Situation(
            f"{person} loosened {what} this week.",
            f"{person} loosened a setting — would it help to talk about why?",
        )
    return Situation(
        "A setting was loosened this week." if n == 1 else f"Settings were loosened {n} times.",
        "A setting was loosened — would it help to talk about why?",
    )


def _night(summary: Summary) -> Situation | None:
    """Most of the week's blocked and warned pages came late in the evening or at night."""
    night = sum(summary.hours[h].block + summary.hours[h].warn for h in NIGHT_HOURS)
    total = sum(c.block + c.warn for c in summary.hours)
    if night < NIGHT_AT_LEAST or 2 * night <= total:
        return None
    o = summary.origins  # the hours do not say who chose the page: ads alone are no pattern
    if o is not None and o.pulled_in.total and o.opened.block + o.opened.warn < NIGHT_AT_LEAST:
        return None
    return Situation(
        "Most of the hard moments came late in the evening or at night (22:00–05:00).",
        "Late evenings seem harder — what would help around then?",
    )


def _many_blocks(summary: Summary) -> Situation | None:
    """Candor stepped in often on pages the person opened (not ones other pages pulled in)."""
    o = summary.origins
    told_apart = o is not None and (o.opened.total or o.pulled_in.total)
    n = o.opened.block if told_apart and o is not None else summary.totals.block
    if n < MANY_BLOCKS:
        return None
    return Situation(
        f"Candor stepped in more often this week ({n} pages blocked).",
        "This looks like a harder week — what would help right now?",
    )


def _help(summary: Summary, person: str | None) -> Situation | None:
    """The person searched for help or recovery: reaching out is a strength."""
    n = summary.help_searches
    if not n:
        return None
    if person:
        times = "once" if n == 1 else f"{n} times"
        said = f"{person} looked for help or recovery {times} this week"
    else:
        said = "There " + ("was a search" if n == 1 else f"were {n} searches")
        said += " for help or recovery this week"
    return Situation(
        f"{said}: reaching out like that takes courage.",
        "What kind of support would help most right now?",
    )


def _steady(summary: Summary) -> Situation:
    """Nothing above: a steady week, worth noticing too."""
    if summary.totals.block == 0:
        note = "A steady week: no blocks, and nothing weakened the filter."
    else:
        note = "A steady week: Candor was watching and nothing weakened the filter."
    return Situation(note, "What helped this week?")
