"""What the partner is told outside the weekly reports: the invitation and the endings.

The invitation is the partner's informed consent: what they will receive and how often, what a
missing report means, how to check that a report is genuine (the key's fingerprint, to compare
with the person once), how to stop, and a short code. The partner gives the code back to the
person, who types it into `candor partner confirm`: double opt-in without a server, and a human
conversation in the loop. Only a salted, slow hash of the code is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.config import Config, Home, format_duration
from reporter import render_html, schedule
from reporter.render_text import STOP_COMMAND, sentence
from reporter.signing import NAMESPACE, PRINCIPAL

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: a code read aloud over the phone survives."""
CODE_LENGTH = 8
_ITERATIONS = 200_000
CHECK_IN_AFTER = timedelta(days=3)
"""A report this late is worth a check-in: what the invitation asks of the partner."""
INVITATION_STATE = "invitation.json"

LEVEL_WORDS = {
    "summary": "counts only: how many times something was blocked or flagged, per category, "
    "per day and per hour of the day, with no web addresses",
    "domains": "counts, plus the names of the blocked and flagged websites (never full "
    "addresses, page contents or searches)",
    "detailed": "counts, the blocked and flagged websites, the time of each event, and "
    "search terms in the watched categories",
}


@dataclass(frozen=True, slots=True)
class Email:
    """Subject, text and HTML of one message to the partner, composed elsewhere."""

    subject: str
    text: str
    html: str


def new_code() -> str:
    """A fresh confirmation code that survives being read aloud."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def show_code(code: str) -> str:
    """The code as the partner reads it: two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def normalise_code(text: str) -> str:
    """The code as typed back (any case, dashes or spaces), ready to compare."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def _digest(code: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", code.encode(), salt, _ITERATIONS).hex()


def remember_code(home: Home, email: str, code: str, now: datetime) -> None:
    """Keep a salted hash of the code for `email` (replacing any earlier invitation)."""
    salt = os.urandom(16)
    record = {
        "email": email,
        "salt": salt.hex(),
        "hash": _digest(normalise_code(code), salt),
        "created_at": now.isoformat(),
    }
    home.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home.state_dir / INVITATION_STATE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def code_matches(home: Home, email: str, code: str) -> bool:
    """Whether a typed code is the one sent to `email`, without keeping the code."""
    try:
        record = json.loads((home.state_dir / INVITATION_STATE).read_text("utf-8"))
        salt = bytes.fromhex(record["salt"])
        stored, invited = str(record["hash"]), str(record["email"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if invited.lower() != email.lower():
        return False
    return hmac.compare_digest(_digest(normalise_code(code), salt), stored)


def forget_code(home: Home) -> None:
    """Drop the pending invitation (confirmed, revoked or replaced)."""
    (home.state_dir / INVITATION_STATE).unlink(missing_ok=True)


def invitation_pending(home: Home) -> bool:
    """Whether an invitation was sent and awaits its code."""
    return (home.state_dir / INVITATION_STATE).exists()


def person_name(config: Config, person: str | None) -> str:
    """How the partner knows the person: the name they gave, else their sender address."""
    smtp = config.delivery.smtp
    return person or smtp.sender or smtp.username or "the person who invited you"


def first_report_due(config: Config, confirmed: datetime) -> datetime:
    """When the first report is due if the partner confirms at `confirmed`: the sender's own
    schedule (`reporter.schedule`), in the person's time zone."""
    zone = config.report.zone()
    return schedule.next_due(config.report, since=confirmed, zone=zone).astimezone(zone)


def first_report_words(config: Config, confirmed: datetime) -> tuple[str, str]:
    """(when the first report is due, when to check in if it has not come), as the partner and
    the person read them."""
    due = first_report_due(config, confirmed)
    check = due + CHECK_IN_AFTER
    return f"{due:%A} {due.day} {due:%B} at {due:%H:%M}", f"{check:%A} {check.day} {check:%B}"


def invitation(
    config: Config,
    *,
    now: datetime,
    person: str | None,
    code: str,
    fingerprint: str,
    public_key: str,
    categories: list[str],
    where: str | None = None,
    alerts: str | None = None,
) -> Email:
    """The invitation's words: what the partner agrees to, how to check, how to stop; `where`
    is the channel reports will go by (`reporter.channel.Channel.words`), which the code
    confirms; `now`, when it is sent, dates the first report; `alerts`, the immediate alerts
    the person chose (`reporter.alert_settings.describe`)."""
    person = person_name(config, person)
    lead = sentence(person)
    partner = config.partner.name or "there"
    report = config.report
    day = report.day.capitalize()
    when = f"every {day} at {report.time:%H:%M} ({_zone(config)})"
    watched = ", ".join(categories) if categories else "the categories they chose"
    level = LEVEL_WORDS.get(config.detail_level, config.detail_level)
    where_line = f"- Where reports go (what your code confirms): {where}.\n" if where else ""
    first, check_by = first_report_words(config, now)
    cooling = _cooling_words(config)
    text = f"""\
Hello {partner},

{lead} has set up Candor on their computer "{config.device.name}" and asks you to be their
accountability partner. Candor is a filter they chose for themselves: it keeps them away from
things they decided to avoid ({watched}) and, once a week, sends you a short summary.

WHAT YOU WOULD RECEIVE
- One email {when}, covering the seven days up to it.
- The first on {first}, if {person} types in your code
  before then; if later, on the first {day} after they do.
- What it shows, at the level {person} chose ("{config.detail_level}"):
  {level}.
- Always, an integrity section: how much of the time Candor was watching, gaps, rules that were
  loosened, and anything that looks like getting around the filter.
- {lead} can see every report before and after it is sent, exactly as you see it.
{where_line}
{alert_words(config, person, alerts)}IF A REPORT DOES NOT ARRIVE
If a report has not arrived three days after it was due (the first: by {check_by}),
please check in with {person}. A missing report is the clearest sign that something changed:
the computer may have been off for a long time, or Candor was stopped or removed. A report can
come a little late when the computer was asleep; it then says so.

TO ACCEPT
If you are willing, tell {person} this code, in person or by phone:

    {show_code(code)}

Reports start only once {person} types it in. If you would rather not, ignore this email:
nothing more will be sent to you.

UNLOCK CODES
Once {person} has typed your code in, you receive a second email: a numbered sheet of one-time
unlock codes, for you alone. Changes that loosen the filter wait {cooling}; with a
code from you, {person} can skip that wait, or allow one site for longer than a day. Give a
code only after you have talked it through. Every code used is named in the next report by its
number, so you will see if one is used that you never gave.

CHECKING THAT A REPORT IS GENUINE
Every report is signed. The signing key's fingerprint is:

    {fingerprint}

Compare it with {person} once, in person or by phone, when you give them the code. Each report
names the key that signed it. How to check a signature yourself is at the end of this email.

{anchor_words(config, person)}
STOPPING
You can stop at any time: ask {person} to run `{STOP_COMMAND}` on their computer.
Reports stop at once; you get one short email saying that reporting has ended, and nothing after
it. Replying to Candor's emails does not stop them: Candor does not read replies.
You cannot change {person}'s settings or ask Candor for more than the weekly summary.

FOR THE TECHNICALLY MINDED
The public key is attached (candor-signing-key.pub, and candor-signing-key.pem for OpenSSL)
and here; keep it:

    {public_key}

Each report email carries the report, its signed bytes and two signatures, so you can check it
with Candor (candor verify REPORT --key candor-signing-key.pub) or with ssh-keygen alone:

    echo '{PRINCIPAL} namespaces="{NAMESPACE}" {public_key}' > allowed_signers
    ssh-keygen -Y verify -f allowed_signers -I {PRINCIPAL} -n {NAMESPACE} -s REPORT.sshsig < REPORT

(REPORT is the attachment ending in .signed.json; REPORT.sshsig the one ending in .sshsig.)
Or with OpenSSL 3 (REPORT.sig is the attachment ending in .sig):

    openssl pkeyutl -verify -pubin -inkey candor-signing-key.pem -rawin \\
      -in REPORT -sigfile REPORT.sig

Thank you.
-- Candor, on behalf of {person}
"""
    subject = f"{lead} asks you to be their accountability partner"
    return _email(subject, text)


def alert_words(config: Config, person: str, alerts: str | None) -> str:
    """The invitation's part on immediate alerts: whether they are on, and what they say."""
    if alerts is None:
        return ""
    if alerts.startswith("Immediate alerts are off"):
        return (
            "IMMEDIATE ALERTS\n"
            f"{sentence(person)} has not turned on immediate alerts: you receive only the weekly\n"
            "report. If they turn them on later, you get a short signed note saying so.\n\n"
        )
    private = (
        'names no category, site or time beyond "in the last 15 minutes"'
        if config.detail_level == "summary"
        else "names what the weekly report at this level would name"
    )
    return (
        "IMMEDIATE ALERTS\n"
        f"{alerts}\n"
        f"An alert is a short note, signed like the reports, and it {private}.\n"
        "Each alert is also listed in the next weekly report.\n\n"
    )


def _cooling_words(config: Config) -> str:
    """The cooling-off delay in words, for the unlock codes' paragraph."""
    if config.cooling_off.total_seconds() <= 0:
        return "for the cooling-off delay they set"
    return f"for the cooling-off delay ({format_duration(config.cooling_off)})"


def anchor_words(config: Config, person: str) -> str:
    """The invitation's words on public time anchors: what is sent, to whom, how often, and
    that the person may turn it off."""
    settings = config.anchors
    lead = sentence(person)
    if not settings.enabled:
        return (
            "PUBLIC TIME ANCHORS\n"
            f"Public time anchors are turned off on this computer. {lead} may turn them on; "
            "each report\nsays whether they are on.\n"
        )
    services = " (or, if it cannot be reached, ".join(settings.authorities)
    services += ")" * (len(settings.authorities) - 1)
    return f"""\
PUBLIC TIME ANCHORS
Once an hour, Candor sends a fingerprint of its record to a public time-stamping service,
{services}, which signs it together with the time.
The fingerprint is a SHA-256 hash: 64 characters that say nothing about what is in the record.
Nothing else is sent: no web addresses, no names, nothing about {person} (the service sees
this computer's internet address, as any website does). Each report carries these signed
times, so a record changed later would show (docs/reports.md in Candor says how to check them
with OpenSSL). {lead} may turn this off; the next report then says so.
"""


def reporting_ended(
    config: Config, *, person: str | None, when: datetime, name: str | None
) -> Email:
    """The words telling the partner that reporting has ended."""
    person = person_name(config, person)
    lead = sentence(person)
    text = f"""\
Hello {name or "there"},

{lead} turned off weekly reports to you from "{config.device.name}" on {_date(when)}.
No more reports will come from Candor, and nothing else will be sent to you. No reason is given;
if you want to know more, talk with {person}.

Thank you for being their accountability partner.
-- Candor, on behalf of {person}
"""
    return _email(f"Candor reports from {person} have ended", text)


def uninstalled(config: Config, *, person: str | None, when: datetime, name: str | None) -> Email:
    """The words telling the partner that Candor is being removed."""
    person = person_name(config, person)
    lead = sentence(person)
    text = f"""\
Hello {name or "there"},

{lead} is removing Candor from "{config.device.name}" ({_date(when)}). After this, no more
weekly reports will come from that computer. If you want to know more, talk with {person}.

Thank you for being their accountability partner.
-- Candor, on behalf of {person}
"""
    return _email(f"Candor is being removed from {person}'s computer", text)


def no_longer_partner(
    config: Config, *, person: str | None, when: datetime, name: str | None
) -> Email:
    """The words telling a former partner that someone else receives reports."""
    person = person_name(config, person)
    text = f"""\
Hello {name or "there"},

On {_date(when)}, {person} chose someone else to receive the weekly reports from Candor on
"{config.device.name}". You will not receive any more reports, and nothing else will be sent to
you.

Thank you for being their accountability partner.
-- Candor, on behalf of {person}
"""
    return _email(f"You are no longer {person}'s Candor partner", text)


def with_note(words: Email, note: str) -> Email:
    """The same message with a short paragraph added before its thanks (a notice that was
    rebuilt, or whose sender did not wait for it)."""
    marker = "\nThank you for being"
    text = words.text.replace(marker, f"\n{note}\n{marker}", 1)
    if text == words.text:
        text = f"{words.text}\n{note}\n"
    return _email(words.subject, text)


def channel_changed(
    config: Config, *, person: str | None, when: datetime, name: str | None, where: str
) -> Email:
    """The words telling the partner, on the former channel, that reports will go elsewhere."""
    person = person_name(config, person)
    lead = sentence(person)
    text = f"""\
Hello {name or "there"},

On {_date(when)}, {person} changed where the weekly reports from Candor on
"{config.device.name}" are sent. From now on they go by: {where}.
Reports start again there only once you confirm, with the code in a new invitation. If you did
not expect this, talk with {person}.

-- Candor, on behalf of {person}
"""
    return _email(f"{lead}'s Candor reports are moving", text)


def email_words(subject: str, text: str) -> Email:
    """Plain words as an email's text and HTML parts, drawn as every Candor email is."""
    return _email(subject, text)


def _email(subject: str, text: str) -> Email:
    return Email(subject, text, _html(subject, text))


def _html(subject: str, text: str) -> str:
    """The same words as a real HTML email, styled as the report is (`reporter.render_html`):
    a card per section (a line in capitals starts one), lists, and keys and commands in a
    fixed-width block that wraps on a phone."""
    cards: list[str] = []
    title, body = "", ""
    for block in text.strip("\n").split("\n\n"):
        lines = block.strip("\n").split("\n")
        if _heading(lines[0]):
            if body:
                cards.append(render_html.card(title, body))
            title, body, lines = lines[0], "", lines[1:]
        body += _body_html(_groups(lines))
    if body:
        cards.append(render_html.card(title, body))
    return render_html.page(subject, "", cards)


def _heading(line: str) -> bool:
    return len(line) > 3 and line == line.lstrip() and line.isupper()


def _groups(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Lines as runs of one kind: "code" (indented four), "item" (a "- " line and the lines
    indented under it), "sign" (the "-- " line) and "text"."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("    "):
            kind, line = "code", line[4:]
        elif line.startswith("- "):
            groups.append(("item", [line[2:]]))
            continue
        elif line.startswith("  ") and groups and groups[-1][0] == "item":
            kind, line = "item", line.strip()
        elif line.startswith("-- "):
            groups.append(("sign", [line]))
            continue
        else:
            kind = "text"
        if groups and groups[-1][0] == kind and kind != "sign":
            groups[-1][1].append(line)
        else:
            groups.append((kind, [line]))
    return groups


def _body_html(groups: list[tuple[str, list[str]]]) -> str:
    """The groups as HTML, one list for each run of items."""
    out, items = "", []
    for kind, lines in groups:
        joined = render_html.prose(" ".join(line.strip() for line in lines))
        if kind == "item":
            items.append(joined)
            continue
        if items:
            out, items = out + render_html.bullets(items), []
        if kind == "code":
            out += render_html.code_block(lines)
        elif kind == "sign":
            out += render_html.paragraph(joined, render_html.SOFT, 14)
        else:
            out += render_html.paragraph(joined)
    return out + (render_html.bullets(items) if items else "")


def _date(moment: datetime) -> str:
    return f"{moment:%A %d %B %Y}"


def _zone(config: Config) -> str:
    zone = config.report.zone()
    return getattr(zone, "key", None) or str(zone)


def key_attachment_name() -> str:
    """The OpenSSH public key's file name, as the invitation's words name it."""
    return "candor-signing-key.pub"


def pem_attachment_name() -> str:
    """The same key as PEM: `ssh-keygen -e -m PKCS8` refuses Ed25519 keys, OpenSSL needs this."""
    return "candor-signing-key.pem"
