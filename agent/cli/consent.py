"""Consent at the command line: what the partner would receive, in the words the person agrees to.

`candor init`, `partner change` and `partner level` show a real sample of this week's report at
the chosen level, then the consent text; what was agreed is journaled with a digest of that text.
"""

from __future__ import annotations

from agent.cli.prompts import setting_check
from agent.config import Config, Home
from agent.journal import Journal, clock
from reporter import consent, render_text, schedule
from reporter.build import build_report, next_report
from reporter.consent import ConsentState
from reporter.conversation import conversation
from reporter.document import Document, read_document

LEVEL_HELP = {
    "summary": "counts per category and action, per day and hour of the day "
    "(the default: the least that works)",
    "domains": "the summary, plus the names of blocked and flagged websites",
    "detailed": "the summary and websites, plus the time of each event and search terms. "
    "This can reveal very personal things; choose it only if you are sure",
}
"""What each detail level shares, as the wizard and `partner show` explain it."""


def consent_now(home: Home) -> ConsentState:
    """Who the partner is and what they agreed to, as the journal records it."""
    with Journal(home.journal_file, clock=clock.now) as journal:
        return consent.consent_state(journal)


def sample_report(
    home: Home,
    config: Config,
    level: str,
    state: ConsentState | None = None,
    person: str | None = None,
) -> str:
    """This week's report as it would be built now, at `level`: the real thing, not a mock-up,
    numbered as the partner's next report would be (#1 for a new partner, `state` None), and
    naming the person as `person` (the name just given at `candor init`, not yet journaled)."""
    shared = config.model_copy(update={"detail_level": level})
    now = clock.now()
    period = schedule.first_period(now, config.report, config.report.zone())
    with Journal(home.journal_file, clock=clock.now) as journal:
        seq = 1 if state is None else next_report(journal, config, state, now).seq
        built = build_report(home, shared, journal, period, seq=seq, prev_report_hash=None, now=now)
    if not person:
        return str(built.text)
    return render_text.render(_named(read_document(built.document), person))


def _named(document: Document, person: str) -> Document:
    """The sample as it will read once the person's name is recorded with their consent."""
    integrity = document.integrity
    said = integrity.model_copy(
        update={"consent": integrity.consent.model_copy(update={"person": person})}
    )
    talk = conversation(document.summary, said)
    return document.model_copy(update={"integrity": said, "conversation": talk})


def consent_text(config: Config, level: str, partner_name: str, partner_email: str) -> str:
    """The paragraph the person agrees to; its digest is journaled with their consent."""
    day = config.report.day.capitalize()
    return (
        f"You are asking {partner_name} <{partner_email}> to receive a weekly report from "
        f'"{config.device.name}", every {day} at {config.report.time:%H:%M}, showing: '
        f"{LEVEL_HELP[level]}. Every report also has an integrity section (coverage, gaps, "
        "loosened rules, bypass attempts). The sample above is what it looks like. You can see "
        "every report before and after it goes (`candor report preview`, `candor report "
        "list`). You can lower the level or stop at any time, at once, with `candor partner "
        "level` or `candor partner revoke`; if you stop, your partner gets one short email "
        "saying reporting has ended. Nothing is sent until your partner gives you the code "
        "from their invitation."
    )


def check_email(value: str) -> None:
    """Raises ValueError, in plain words, unless `value` is an email address config.toml takes."""
    setting_check(
        "partner.email", "That does not look like an email address (like sam@example.org)."
    )(value)


def check_name(value: str) -> None:
    """Raises ValueError unless `value` can be the partner's name."""
    if not value.strip() or len(value) > 100:
        raise ValueError("the name must be 1 to 100 characters")
