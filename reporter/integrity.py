"""The integrity section: how much of the period Candor saw, and anything that weakens trust in
the counts. No setting removes it; the detail level only hides host names and rule texts.

Everything is read from the rows the report covers (`reporter.scope`), whatever time they carry.
Coverage and gaps are worked out from the heartbeats in `reporter.coverage`, rows stamped
outside the period and time zone changes in `reporter.scope`; the rest is here: changes that
loosened filtering, what is waiting for the cooling-off delay, bypass suspicions, the journal's
own check, the signing key, consent, and what the partner may want to ask about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from agent.config import Home, duration_words
from agent.journal import Event, Journal, Kind, format_ts, parse_ts
from agent.journal.errors import DISK_FULL
from agent.journal.events import (
    CAPTURE_CHANGED,
    CAPTURE_FINDINGS,
    CAPTURE_REMOVED,
    CAPTURE_RESTORED,
    CAPTURE_TAKEN_OVER,
    PROBE_MISSING,
)
from agent.journal.loosening import OWN_FILE_PREFIX, loosening_words
from reporter import channel, consent, signing
from reporter.coverage import Clocks, coverage_and_gaps
from reporter.document import (
    AgentInfo,
    BypassEntry,
    ChangeEntry,
    ConsentInfo,
    Integrity,
    JournalCheck,
    KeyInfo,
    Passthroughs,
)
from reporter.scope import Scope, clock_anomalies, zone_changes
from reporter.unlock_report import unlock_words

# -- changes --------------------------------------------------------------------------------

_SETTING_WORDS = {
    "allowlist": "a site was added to the allowlist",
    "never_inspect": "a site was added to the never-inspect list",
    "safesearch.enabled": "SafeSearch was turned off",
    "search_capture.enabled": "checking search terms was turned off",
    "cooling_off": "the cooling-off delay was shortened",
}


def _setting_words(change: Mapping[str, Any]) -> str:
    what = str(change.get("what", "a setting"))
    if what.startswith("categories.") and what.endswith(".action"):
        name = what[len("categories.") : -len(".action")]
        return f"{name}: changed from {change.get('from')} to {change.get('to')}"
    if what.startswith("categories.") and what.endswith(".recognise"):
        name = what[len("categories.") : -len(".recognise")]
        state = "turned on" if change.get("to") else "turned off"
        return f"{name}: recognising sites by their names was {state}"
    return _SETTING_WORDS.get(what, f"{what} changed")


_NOTICE_WORDS = {
    "report.timezone": "the report's time zone was changed from {old} to {new}",
    "agent.listen": "Candor's listening address was changed from {old} to {new}",
}
"""Settings that neither loosen nor tighten but can hide something, so they are listed."""


def _notice_words(change: Mapping[str, Any]) -> str | None:
    words = _NOTICE_WORDS.get(str(change.get("what")))
    return words.format(old=change.get("from"), new=change.get("to")) if words else None


def _rule_words(category: Any, texts: list[str]) -> str:
    """What loosened in a category: rules removed, exceptions added (by an imported list)."""
    exceptions = [t for t in texts if t.startswith("@@")]
    removed = len(texts) - len(exceptions)
    parts = []
    if removed:
        parts.append(f"{removed} rule{'s' if removed != 1 else ''} removed from {category}")
    if exceptions:
        lists = sorted({t.rsplit("(from ", 1)[1].rstrip(")") for t in exceptions if "(from " in t})
        by = (
            f" by the imported list {', '.join(n.rsplit('/', 1)[-1] for n in lists)}"
            if lists
            else ""
        )
        count = len(exceptions)
        parts.append(f"{count} exception{'s' if count != 1 else ''} added to {category}{by}")
    return "; ".join(parts)


def _list_words(item: Mapping[str, Any]) -> str | None:
    """An imported list that lost entries, in plain words (None if it lost none)."""
    full = str(item.get("list", "a list"))
    name = full.rsplit("/", 1)[-1]
    before, after, removed = (
        item.get(k) for k in ("entries_before", "entries_after", "entries_removed")
    )
    if isinstance(removed, int) and full.startswith(OWN_FILE_PREFIX):
        if removed <= 0:
            return None
        of = f" of its {before:,}" if isinstance(before, int) and before else ""
        return f"the rules file {name} lost {removed:,}{of} host rules"
    if isinstance(removed, int):
        if removed <= 0:
            return None
        of = f" of its {before:,}" if isinstance(before, int) and before else ""
        return f"the imported list {name} lost {removed:,}{of} entries"
    if isinstance(before, int) and isinstance(after, int):
        return (
            f"the imported list {name} changed from {before:,} to {after:,} entries and its "
            "earlier version could not be compared"
        )
    return f"the imported list {name} changed and its earlier version could not be compared"


def _list_entries(
    ts: str, change: Mapping[str, Any], share: bool, stopped: bool
) -> list[ChangeEntry]:
    """A `rules_changed` category entry's imported lists that lost entries."""
    out = []
    for item in change.get("lists") or []:
        if isinstance(item, dict) and (said := _list_words(item)):
            out.append(
                ChangeEntry(
                    time=ts, kind="rules", category=change.get("category"), description=said,
                    detail=_list_detail(item) if share else None, while_stopped=stopped,
                    pending_until=item.get("pending_until") or None,
                )
            )  # fmt: skip
    return out


def _list_detail(item: Mapping[str, Any]) -> list[str]:
    """What the partner sees of a list that lost entries: the host rules a large rules file of
    the person's own lost, by name (as a small file's removed rules are), else the list's name."""
    named = item.get("rules_removed")
    if isinstance(named, list) and named:
        return [str(text) for text in named]
    return [str(item.get("list"))]


def _allow_words(body: Mapping[str, Any], share: bool) -> str:
    """A temporary allow, with the person's reason where the level shares domains (a reason
    may be personal: at the summary level the partner reads only that one was given)."""
    duration = body.get("duration") or "a short time"
    words = f"a blocked site was let through for {duration} (candor allow)"
    reason = body.get("reason")
    if isinstance(reason, str) and reason:
        words += f"; the reason given: \u201c{reason}\u201d" if share else "; a reason was given"
    return words


def _earliest(values: Iterable[Any]) -> str | None:
    found = sorted(str(v) for v in values if isinstance(v, str) and v)
    return found[0] if found else None


NOT_FILTERING = frozenset({"report.timezone", "anchors.enabled"})
"""Settings journaled as `config_changed` that neither loosen nor tighten filtering; the report
says them elsewhere (a time zone change: `reporter.scope.zone_changes`; time anchoring turned
off or on: `reporter.anchor_report`)."""


@dataclass(frozen=True, slots=True)
class Changes:
    """What made filtering less strict this week (listed) and stricter (counted)."""

    loosening: list[ChangeEntry]
    tightening: int


def changes(journal: Journal, scope: Scope, level: str) -> Changes:
    """Loosening and tightening from the journal's rule, setting, allow and consent rows."""
    share = level in ("domains", "detailed")
    loosening: list[ChangeEntry] = []
    tightening = 0
    kinds = [
        Kind.RULES_CHANGED,
        Kind.CONFIG_CHANGED,
        Kind.ALLOW_GRANTED,
        Kind.ALLOW_ENDED,
        Kind.CONSENT_CHANGED,
    ]
    for event in scope.rows(journal, kinds):
        body = event.body
        stopped = bool(body.get("while_stopped"))
        items = body.get("changes") if isinstance(body.get("changes"), list) else []
        items = [c for c in items if not (isinstance(c, dict) and c.get("what") in NOT_FILTERING)]
        if event.kind == Kind.RULES_CHANGED:
            for c in (c for c in items if isinstance(c, dict)):
                tightening += len(c.get("tightening") or [])
                removed = [str(r) for r in c.get("loosening") or []]
                category = c.get("category")
                loosening.extend(_list_entries(event.ts, c, share, stopped))
                if c.get("disappeared"):
                    words = f"the {category} rules file was removed"
                elif removed:
                    words = _rule_words(category, removed)
                else:
                    continue
                until = c.get("pending_until")
                loosening.append(
                    ChangeEntry(
                        time=event.ts, kind="rules", category=category, description=words,
                        detail=removed if share else None, while_stopped=stopped,
                        pending_until=_earliest(until.values()) if isinstance(until, dict)
                        else None,
                    )
                )  # fmt: skip
        elif event.kind == Kind.CONFIG_CHANGED:
            for c in (c for c in items if isinstance(c, dict)):
                if notice := _notice_words(c):
                    loosening.append(
                        ChangeEntry(time=event.ts, kind="setting", description=notice,
                                    while_stopped=stopped)
                    )  # fmt: skip
                    continue
                if not c.get("loosening"):
                    tightening += 1
                    continue
                host = c.get("to") if c.get("what") in ("allowlist", "never_inspect") else None
                loosening.append(
                    ChangeEntry(
                        time=event.ts, kind="setting", description=_setting_words(c),
                        detail=[str(host)] if share and host else None,
                        pending_until=c.get("pending_until") or None, while_stopped=stopped,
                    )
                )  # fmt: skip
        elif event.kind == Kind.ALLOW_GRANTED:
            host = body.get("host")
            loosening.append(
                ChangeEntry(
                    time=event.ts, kind="temporary_allow", description=_allow_words(body, share),
                    detail=[str(host)] if share and host else None,
                )
            )  # fmt: skip
        elif event.kind == Kind.ALLOW_ENDED:
            tightening += 1
        elif body.get("change") in ("lowered", "revoked"):
            words = (
                f"the report's detail level was lowered to {body.get('level')}"
                if body.get("change") == "lowered"
                else "reporting to the partner was turned off"
            )
            loosening.append(ChangeEntry(time=event.ts, kind="sharing", description=words))
        for item in body.get("took_effect") or []:
            if isinstance(item, dict):
                what = str(item.get("what", ""))
                value = item.get("value")
                loosening.append(
                    ChangeEntry(
                        time=event.ts, kind="took_effect", category=item.get("category"),
                        description="after the cooling-off delay, "
                        + loosening_words(what, done=True),
                        detail=[str(value)] if share and value else None,
                    )
                )  # fmt: skip
    return Changes(loosening, tightening)


def pending_now(
    home: Home, now: datetime, level: str, journal: Journal | None = None
) -> list[ChangeEntry]:
    """Loosenings waiting for the cooling-off delay at report time, as the journal's newest
    `rules_applied` row records them (files under `state/` are only caches)."""
    if journal is None:
        if not home.journal_file.exists():
            return []
        with Journal(home.journal_file) as opened:
            return pending_now(home, now, level, opened)
    newest = next(journal.latest([Kind.RULES_APPLIED], 1), None)
    items = newest.body.get("pending") if newest is not None else None
    share = level in ("domains", "detailed")
    out: list[ChangeEntry] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            until = datetime.fromisoformat(str(item["until"]))
            since = datetime.fromisoformat(str(item.get("since", item["until"])))
        except (KeyError, ValueError):
            continue
        if until.tzinfo is None or until <= now:
            continue
        what = str(item.get("what", ""))
        value = item.get("value")
        out.append(
            ChangeEntry(
                time=format_ts(since), kind="pending", category=item.get("category"),
                description=loosening_words(what),
                detail=[str(value)] if share and value else None, pending_until=format_ts(until),
            )
        )  # fmt: skip
    return out


# -- the journal, the key, consent ----------------------------------------------------------


def journal_check(journal: Journal, previous_head: Mapping[str, Any] | None) -> JournalCheck:
    """Verify the chain and whether it still holds the row the last report named."""
    result = journal.verify()
    first = next(journal.events(limit=1), None)
    extends: bool | None = None
    if previous_head and isinstance(previous_head.get("seq"), int):
        extends = _extends(journal, int(previous_head["seq"]), str(previous_head.get("hash")))
    return JournalCheck(
        ok=result.ok,
        checked=result.checked,
        first_bad_seq=result.first_bad_seq,
        detail=result.detail,
        extends_previous=extends,
        previous_chain_head=dict(previous_head) if previous_head else None,
        started_at=first.ts if first else None,
    )


def _extends(journal: Journal, seq: int, digest: str) -> bool | None:
    """Is the row the previous report quoted still there, unchanged? None if pruned since."""
    row = next(journal.events(after_seq=seq - 1, limit=1), None)
    if row is not None and row.seq == seq:
        return row.hash == digest
    head = journal.head()
    if head is None or head.seq < seq:
        return False
    for event in journal.events(kinds=[Kind.CHECKPOINT], newest_first=True):
        if event.body.get("seq") == seq:
            return event.body.get("hash") == digest
    return None


def key_info(home: Home, scope: Scope, previous_key: str | None) -> KeyInfo:
    """The signing key's fingerprint and history, for a partner to notice a new key."""
    current = signing.fingerprint(home)
    history = signing.key_history(home)
    created = next((h["created_at"] for h in history if h["fingerprint"] == current), None)
    new = False
    if created:
        try:
            born = datetime.fromisoformat(created)
            new = scope.start <= born < scope.end
        except ValueError:
            pass
    return KeyInfo(
        fingerprint=current,
        created_at=created,
        new_this_period=new,
        previous_fingerprints=[h["fingerprint"] for h in history if h["fingerprint"] != current],
        changed_since_previous_report=None if previous_key is None else previous_key != current,
    )


def consent_info(journal: Journal, now: datetime) -> ConsentInfo:
    """When consent was last given or renewed, as the report quotes it."""
    state = consent.consent_state(journal)
    last = state.renewed_at
    return ConsentInfo(
        last_given=format_ts(last) if last else None,
        renewal_due=state.renewal_due(now),
        person=state.person,
    )


# -- the whole section ----------------------------------------------------------------------


def build_integrity(
    home: Home,
    journal: Journal,
    scope: Scope,
    level: str,
    *,
    previous_head: Mapping[str, Any] | None = None,
    previous_key: str | None = None,
    late_reason: str | None = None,
    current: Clocks | None = None,
) -> Integrity:
    """The whole integrity section for the report's rows and period, at the level consented to."""
    share = level in ("domains", "detailed")
    coverage, gaps = coverage_and_gaps(journal, scope, current)
    found = changes(journal, scope, level)
    pending = pending_now(home, scope.now, level, journal)
    bypass: list[BypassEntry] = []
    pinned: list[str] = []
    programs: set[str] = set()
    starts = unclean = lost = failures = 0
    kinds = [Kind.BYPASS_SUSPECTED, Kind.PINNED_PASSTHROUGH, Kind.AGENT_START, Kind.EVENTS_LOST,
             Kind.REPORT_FAILED]  # fmt: skip
    for event in scope.rows(journal, kinds):
        body = event.body
        if event.kind == Kind.BYPASS_SUSPECTED:
            if body.get("what") != CAPTURE_RESTORED:  # good news: said in `capture_words`
                bypass.extend(bypass_entries(event, share))
        elif event.kind == Kind.PINNED_PASSTHROUGH:
            pinned.append(str(body.get("host", "")))
            if isinstance(body.get("program"), str) and body["program"]:
                programs.add(body["program"])
        elif event.kind == Kind.AGENT_START:
            starts += 1
            unclean += body.get("previous_stop_clean") is False
        elif event.kind == Kind.REPORT_FAILED:
            failures += 1
        else:
            lost += int(body.get("count", 0)) if isinstance(body.get("count"), int) else 1
    check = journal_check(journal, previous_head)
    key = key_info(home, scope, previous_key)
    integrity = Integrity(
        coverage=coverage,
        gaps=gaps,
        loosening=found.loosening,
        pending=pending,
        tightening=found.tightening,
        bypass=bypass,
        pinned_passthroughs=Passthroughs(
            count=len(pinned),
            hosts=sorted(set(pinned)) if share else None,
            programs=sorted(programs) if share and programs else None,
        ),
        journal=check,
        consent=consent_info(journal, scope.now),
        signing_key=key,
        agent=AgentInfo(starts=starts, unclean_stops=unclean),
        delivery_failures=failures,
        events_lost=lost,
        late=late_reason is not None,
        late_reason=late_reason,
        clock_anomalies=clock_anomalies(journal, scope),
        zone_changes=zone_changes(journal, scope),
        attention=[],
    )
    said = [
        *attention(integrity),
        *unrecorded_words(journal, scope),
        *capture_words(journal, scope),
        *settings_file_words(journal, scope),
        *stale_list_words(journal, scope),
        *unlock_words(journal, scope, share),
    ]
    return integrity.model_copy(update={"attention": said})


STALE_AFTER = timedelta(days=14)
"""A subscribed list not refreshed for longer than this is said in the report."""


def stale_list_words(journal: Journal, scope: Scope) -> list[str]:
    """One plain sentence per subscribed list whose newest `list_refresh` row in the period says
    it has not been refreshed for more than 14 days (downloads failing or turned off)."""
    newest: dict[str, Mapping[str, Any]] = {}
    for event in scope.rows(journal, [Kind.LIST_REFRESH]):
        newest[str(event.body.get("list"))] = event.body
    out = []
    for name, body in sorted(newest.items()):
        if body.get("outcome") in ("updated", "unchanged"):
            continue
        last = body.get("last_good")
        try:
            since = parse_ts(str(last)) if last else None
        except ValueError:
            since = None
        if since is not None and scope.until - since <= STALE_AFTER:
            continue
        short = "/".join(name.split("/")[1:]) if name.startswith("lists/") else name
        why = " (downloads are turned off)" if body.get("outcome") == "off" else ""
        if since is None:
            out.append(
                f"The list {short} has never been downloaded{why}; Candor used the rest of "
                "its rules meanwhile."
            )
            continue
        day = since.astimezone(scope.zone)
        out.append(
            f"The list {short} has not been refreshed since {day.day} {day:%B}{why}; Candor "
            "kept using its last copy."
        )
    return out


SETTINGS_BROKEN = "Candor's settings file (config.toml) could not be read"
SETTINGS_KEPT = "the settings in force before stayed in force meanwhile, so nothing was loosened"


def settings_file_words(journal: Journal, scope: Scope) -> list[str]:
    """Each time config.toml was broken (its `rules_applied` rows carry `config_problem`), from
    when to when, in one plain sentence: nothing loosened, but the partner may ask why."""
    zone = scope.zone
    broken_since: str | None = None
    out: list[str] = []
    for event in scope.rows(journal, [Kind.RULES_APPLIED]):
        broken = bool(event.body.get("config_problem"))
        if broken and broken_since is None:
            broken_since = event.ts
        elif not broken and broken_since is not None:
            span = f"from {_at(broken_since, zone)} to {_at(event.ts, zone, after=broken_since)}"
            out.append(f"{SETTINGS_BROKEN} {span}; {SETTINGS_KEPT}.")
            broken_since = None
    if broken_since is not None:
        out.append(
            f"{SETTINGS_BROKEN} from {_at(broken_since, zone)} and was still broken when this "
            f"report was made; {SETTINGS_KEPT}."
        )
    return out


def unrecorded_words(journal: Journal, scope: Scope) -> list[str]:
    """The times the agent could not write its record (`journal_unwritable` rows: a full disk),
    in one plain sentence; none when it always could."""
    spans: list[timedelta] = []
    reasons: set[str] = set()
    for event in scope.rows(journal, [Kind.JOURNAL_UNWRITABLE]):
        try:
            spans.append(parse_ts(event.body["until"]) - parse_ts(event.body["since"]))
        except (KeyError, TypeError, ValueError):
            spans.append(timedelta(0))
        reasons.add(str(event.body.get("reason")))
    if not spans:
        return []
    total = sum(spans, timedelta(0))
    length = (
        f"for about {duration_words(total)}"
        if total >= timedelta(minutes=1)
        else "for less than a minute"
    )
    times = f" ({len(spans)} times)" if len(spans) > 1 else ""
    why = "the disk was full" if reasons == {DISK_FULL} else "the disk refused its writes"
    return [
        f"Candor could not write its record {length}{times} because {why}: what happened "
        "meanwhile was written late, and no change to the rules took effect until it could."
    ]


_CAPTURE_WORDS = {
    CAPTURE_REMOVED: "Candor's capture of this computer's traffic was removed",
    CAPTURE_CHANGED: "Candor's capture of this computer's traffic was changed",
    CAPTURE_TAKEN_OVER: "Another program took the ports Candor's capture of this computer's "
    "traffic leads to",
    PROBE_MISSING: "Candor's regular test connection, made as an ordinary user, stopped reaching "
    "it (the capture of this computer's traffic may have been broken)",
}


def capture_words(journal: Journal, scope: Scope) -> list[str]:
    """Each time the system capture was removed, changed, taken over or stopped reaching Candor,
    and when it was restored (or that it was not), one plain sentence each, in journal order."""
    zone = scope.zone
    since: dict[str, tuple[str, str, list[str]]] = {}
    """Part of the capture -> (what, when, when again) of the finding still open."""
    out: list[str] = []
    for event in scope.rows(journal, [Kind.BYPASS_SUSPECTED]):
        what = str(event.body.get("what"))
        if what in CAPTURE_FINDINGS:
            part = CAPTURE_FINDINGS[what]
            opened = since.get(part)
            if opened is not None and opened[0] == what:  # changed again before it was put back
                opened[2].append(event.ts)
                continue
            if opened is not None:  # removed, then put back differently: the first, unrestored
                out.append(_capture_sentence(*since.pop(part), None, zone))
            since[part] = (what, event.ts, [])
        elif what == CAPTURE_RESTORED:
            for cleared in event.body.get("restored") or []:
                part = CAPTURE_FINDINGS.get(str(cleared))
                if part is None:
                    continue
                found = since.pop(part, None)
                if found is None:
                    out.append(f"{_CAPTURE_WORDS[str(cleared)]} before this report's period, "
                               f"and restored at {_at(event.ts, zone)}.")  # fmt: skip
                else:
                    out.append(_capture_sentence(*found, event.ts, zone))
    out += [_capture_sentence(what, ts, again, None, zone) for what, ts, again in since.values()]
    return out


def _capture_sentence(
    what: str, start: str, again: list[str], end: str | None, zone: tzinfo
) -> str:
    began = f"{_CAPTURE_WORDS[what]} at {_at(start, zone)}"
    if again:
        began += f" (and again at {', '.join(_at(ts, zone, after=start) for ts in again)})"
    if end is None:
        return f"{began}, and not restored."
    return f"{began} and restored at {_at(end, zone, after=start)}."


def _at(ts: str, zone: tzinfo, after: str | None = None) -> str:
    """A row's time in the report's zone: the day and time, or only the time on the same day."""
    try:
        when = parse_ts(ts).astimezone(zone)
        if after is not None and parse_ts(after).astimezone(zone).date() == when.date():
            return when.strftime("%H:%M")
        return when.strftime("%a %d %b %H:%M")
    except (TypeError, ValueError):
        return ts


def shown(problem: dict[str, Any], share: bool) -> bool:
    """Whether a finding's detail is shown: at levels that share hosts, and always for a
    channel changed by hand (it names where reports would have gone, not what was visited)."""
    return share or problem.get("what") == channel.EDITED


def bypass_entries(event: Event, share: bool) -> list[BypassEntry]:
    """One entry per thing noticed: a self-check row names every problem it found."""
    body = event.body
    problems = body.get("problems")
    found = [p for p in problems if isinstance(p, dict)] if isinstance(problems, list) else []
    if not found:
        found = [{"what": body.get("what"), "detail": body.get("host") or body.get("detail")}]
    return [
        BypassEntry(
            time=event.ts,
            what=str(p.get("what") or "unknown"),
            detail=str(p["detail"]) if shown(p, share) and p.get("detail") else None,
        )
        for p in found
    ]


def attention(integrity: Integrity) -> list[str]:
    """What the partner may want to ask about, in plain words; never the blocks themselves
    (a block is the filter doing its job)."""
    out: list[str] = []
    flagged = [g for g in integrity.gaps if g.flagged]
    unwatched = [g for g in flagged if g.kind in ("agent_not_running", "no_data", "agent_stopped")]
    awake = sum(g.minutes if g.kind == "no_data" else g.awake_minutes for g in unwatched)
    stops = sum(1 for g in flagged if g.kind == "agent_stopped")
    if stops:
        times = "once" if stops == 1 else f"{stops} times"
        out.append(f"Candor was stopped {times} while the computer was on.")
    if any(g.kind in ("agent_not_running", "no_data") for g in flagged):
        out.append(
            "Candor was not watching for about "
            f"{duration_words(timedelta(minutes=awake))} of this week."
        )
    if integrity.clock_anomalies:
        out.append(
            "Some events carry times outside this report's period: the computer's clock was "
            "probably changed. They are counted here all the same."
        )
    elif any(g.kind == "clock_changed" for g in flagged):
        out.append("The computer's clock was changed.")
    real = [c for c in integrity.loosening if c.kind != "sharing"]
    if real:
        out.append(f"{len(real)} change{'s' if len(real) != 1 else ''} made filtering less strict.")
    if integrity.pending:
        out.append("A change that makes filtering less strict is waiting to take effect.")
    if integrity.bypass:
        out.append("Candor noticed something that can get around the filter.")
    if not integrity.journal.ok:
        out.append("Candor's record was changed after it was written.")
    if integrity.journal.extends_previous is False:
        out.append("Candor's record no longer matches the one last week's report described.")
    key = integrity.signing_key
    if key.changed_since_previous_report or (key.new_this_period and key.previous_fingerprints):
        out.append("This report is signed with a new key (Candor was reinstalled or reset).")
    if integrity.events_lost:
        out.append("Candor could not record some events.")
    if integrity.late_reason:
        out.append(integrity.late_reason)
    return out
