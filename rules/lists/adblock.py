"""Reader for the host-level subset of Adblock Plus / uBlock Origin / AdGuard filter lists.

Kept: `||host^` (the host and its subdomains), `@@||host^` exceptions, `$important`,
`$badfilter`, `||host/path` (a URL prefix), bare host names (uBlock reads them as `||host^`) and
hosts-file lines. Everything else cannot be said as "block this host or URL for everyone":
cosmetic `##` rules, URL patterns with wildcards, regex rules and rules narrowed by options such
as `$third-party`. Those are skipped and counted by kind rather than silently widened.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rules.hostnames import InvalidHost, is_ip_literal
from rules.lists.entries import NAME_PATTERN, NOT_UTF8, EntrySink, scan
from rules.lists.lines import Block
from rules.model import Rule, RuleKind

_FAST_RULE = re.compile(rf"\|\|({NAME_PATTERN})\^")
_COSMETIC = re.compile(r"#@?[?$%]?#|\$@?\$")
_WHOLE_HOST_OPTIONS = frozenset({"all", "document", "doc"})
"""Options that add nothing to a host-level block: it already covers every request."""
_PATTERN_CHARS = frozenset("*^|:")
_BARE_PATTERN_CHARS = frozenset("*^|:/?=&")
URL_PATTERN = "URL pattern rule"

Target = tuple[RuleKind, str]
BadKey = tuple[bool, bool, RuleKind, str]
"""What a `$badfilter` rule disables: (exception, important, kind, value)."""


def read_adblock(blocks: Iterable[Block], sink: EntrySink) -> None:
    """Keep the host-level rules of an Adblock-style list; count what cannot be said per host."""
    badfilters: set[BadKey] = set()

    def handle(lineno: int, line: str) -> None:
        text = line.strip()
        if not text:
            return
        if text[0] == "!" or (text[0] == "[" and text[-1] == "]"):
            sink.skip("comment")
        elif "\ufffd" in text:
            sink.reject(lineno, line, NOT_UTF8)
        elif _COSMETIC.search(text):
            sink.skip("cosmetic rule")
        elif text[0] == "#":
            sink.skip("comment")
        else:
            _read_rule(text, lineno, line, sink, badfilters)

    scan(blocks, sink, _FAST_RULE, handle, subtree=True)
    if badfilters:
        _apply_badfilters(sink, badfilters)


def _read_rule(text: str, lineno: int, line: str, sink: EntrySink, badfilters: set[BadKey]) -> None:
    exception = text.startswith("@@")
    body = text[2:] if exception else text
    if body.startswith("/") or (body.startswith("|") and not body.startswith("||")):
        sink.skip(URL_PATTERN)
        return
    body, dollar, options = body.partition("$")
    important = badfilter = False
    if dollar:
        for option in options.split(","):
            name = option.strip().lower()
            if name == "important":
                important = True
            elif name == "badfilter":
                badfilter = True
            elif name and name not in _WHOLE_HOST_OPTIONS:
                sink.skip(f"unsupported option ${name.split('=', 1)[0]}")
                return
    if body.startswith("||"):
        target = _anchored(body[2:], lineno, line, sink)
    elif len(body.split()) > 1:
        _hosts_line(body, exception or bool(dollar), lineno, line, sink)
        return
    else:
        target = _bare(body, sink)
    if target is None:
        return
    kind, value = target
    if badfilter:
        badfilters.add((exception, important, kind, value))
        sink.skip("$badfilter rule")
    elif exception:
        source = f"{sink.file}:{lineno}"
        sink.add_exception(Rule(kind, value, exception=True, important=important, source=source))
    elif kind is RuleKind.PATH:
        sink.add_path(value)
    elif kind is RuleKind.EXACT:
        sink.put("address", value)
    else:
        sink.put("name", value, important=important, subtree=True)


def _anchored(rest: str, lineno: int, line: str, sink: EntrySink) -> Target | None:
    """`||host^`, `||host`, `||host/path`: the part after `||`, options already cut off."""
    rest = rest.removesuffix("|").removesuffix("^")
    host, slash, path = rest.partition("/")
    if not host:
        sink.reject(lineno, line, "malformed Adblock rule: no host name after '||'")
        return None
    if any(c in _PATTERN_CHARS for c in rest):
        sink.skip(URL_PATTERN)
        return None
    if any(c.isspace() for c in rest):
        sink.reject(lineno, line, "malformed Adblock rule: spaces inside the rule")
        return None
    try:
        kind, normal = sink.classify(host)
    except InvalidHost as exc:
        sink.reject(lineno, line, f"malformed Adblock rule: {exc}")
        return None
    if kind == "junk":
        sink.skip("localhost")
        return None
    if slash and path:
        return RuleKind.PATH, f"{normal}/{path}"
    return (RuleKind.EXACT if kind == "address" else RuleKind.DOMAIN), normal


def _bare(body: str, sink: EntrySink) -> Target | None:
    """A line without `||`: a host name, or else a substring pattern we cannot use."""
    if "." not in body or any(c in _BARE_PATTERN_CHARS for c in body):
        sink.skip(URL_PATTERN)
        return None
    try:
        kind, normal = sink.classify(body)
    except InvalidHost:
        sink.skip(URL_PATTERN)
        return None
    if kind == "junk":
        sink.skip("localhost")
        return None
    return (RuleKind.EXACT if kind == "address" else RuleKind.DOMAIN), normal


def _hosts_line(body: str, decorated: bool, lineno: int, line: str, sink: EntrySink) -> None:
    first, *names = body.split()
    if decorated or not is_ip_literal(first):
        sink.reject(lineno, line, "malformed Adblock rule: spaces inside the rule")
        return
    for name in names:
        sink.add_host(name, lineno, line, subtree=True, label=len(names) > 1)


def _apply_badfilters(sink: EntrySink, keys: set[BadKey]) -> None:
    entries = sink.entries
    blocked = {(kind, value) for exc, imp, kind, value in keys if not exc and not imp}
    blocked |= {
        (kind, value) for exc, _, kind, value in keys if not exc and kind is not RuleKind.DOMAIN
    }
    important = {value for exc, imp, kind, value in keys if not exc and imp}
    excepted = {(kind, value, imp) for exc, imp, kind, value in keys if exc}
    before = entries.accepted
    entries.domains = [d for d in entries.domains if (RuleKind.DOMAIN, d) not in blocked]
    entries.exact = [h for h in entries.exact if (RuleKind.EXACT, h) not in blocked]
    entries.paths = [p for p in entries.paths if (RuleKind.PATH, p) not in blocked]
    entries.important = [d for d in entries.important if d not in important]
    entries.exceptions = [
        r for r in entries.exceptions if (r.kind, r.value, r.important) not in excepted
    ]
    if removed := before - entries.accepted:
        sink.skip("disabled by $badfilter", removed)
