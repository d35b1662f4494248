"""The person's own rule files: one rule a line, in the syntax DESIGN.md documents.

Decisions a reader of a rule file should be able to predict:

* `#` starts a comment at the start of a line or after whitespace. Anywhere else it is part of
  the rule: inside a `/regex/` it is a literal `#`; in a host or URL it starts the URL fragment,
  which is dropped because a fragment never reaches the network. To match " #" in a regex, write
  `\\x20#` or `[ ]#`. `!` at the start of a line is a comment too (pasted Adblock lists).
* A rule may end with ` $important` (Adblock rules may also write `^$important`), a path rule
  with ` $match-case`, or both (` $important,match-case`).
* Hosts are normalised (lower case, no trailing dot, punycode, an IPv4 address in any spelling a
  browser takes). An IP address names that address only, so it becomes an exact rule.
* Paths are normalised as requests are (`rules.urls.normalise_path`: unreserved `%xx` escapes
  decoded, dot segments and repeated slashes removed) and ignore case: `example.com/SECRET` and
  `example.com/secret` are one rule, stored in lower case, blocking both spellings. ` $match-case`
  keeps the case and compares it. The query string is kept as part of the prefix.
  `example.com/` (an empty path) is the whole domain.
* Pasted URLs are welcome: the scheme, user name and port are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import re2

from rules.hostnames import InvalidHost, is_ip_literal, normalise_host
from rules.lists.lines import MAX_LINE, RulesFileError, decode_text, read_own_bytes
from rules.model import ParsedRules, Rejection, Rule, RuleKind
from rules.urls import fold_path, normalise_path

__all__ = [
    "RuleSyntaxError",
    "RulesFileError",
    "format_rule",
    "parse_rule",
    "parse_rules_text",
    "parse_url_prefix",
    "path_rule_value",
    "read_rules_file",
    "regex_error",
]

_COMMENT = re.compile(r"(?:^|\s)#")
_TRAILING_OPTIONS = re.compile(r"\s+\$([\w~=.,|-]+)$")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_COSMETIC = re.compile(r"#@?[?$%]?#")
_KEYWORD_PREFIX = "keyword:"
_IMPORTANT = "important"
_MATCH_CASE = "match-case"
_REJECTED_TEXT_LIMIT = 300

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class RuleSyntaxError(ValueError):
    """A rule line that cannot be used; the message is the plain reason."""


def parse_rule(text: str, source: str = "") -> Rule | None:
    """Parse one line; None for a blank or comment line. Raises `RuleSyntaxError`."""
    if len(text) > MAX_LINE:
        raise RuleSyntaxError("line is too long")
    if "\ufffd" in text:
        raise RuleSyntaxError("not valid UTF-8 text")
    line = _strip_comment(text).strip()
    if not line or line.startswith("!"):
        return None
    exception = line.startswith("@@")
    if exception:
        line = line[2:].lstrip()
    options: frozenset[str] = frozenset()
    if match := _TRAILING_OPTIONS.search(line):
        options = _options(match.group(1))
        line = line[: match.start()]
    kind, value, abp_options = _parse_body(line)
    options |= abp_options
    match_case = _MATCH_CASE in options
    if kind is RuleKind.PATH:
        value = path_rule_value(value, match_case)
    elif match_case:
        raise RuleSyntaxError(_match_case_refusal(kind))
    return Rule(kind, value, exception, _IMPORTANT in options, source, match_case)


def path_rule_value(value: str, match_case: bool = False) -> str:
    """A PATH rule's `host/path` as stored: the path in lower case unless `match_case`."""
    if match_case:
        return value
    host, slash, path = value.partition("/")
    return host + slash + fold_path(path)


def rules_text_lines(text: str) -> list[str]:
    """A rules file's lines as every reader takes them: without a BOM, any line end."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def parse_rules_text(text: str, file: str) -> ParsedRules:
    """Parse a whole rule file's text. One bad line never stops the rest."""
    out = ParsedRules()
    seen: set[Rule] = set()
    for lineno, line in enumerate(rules_text_lines(text), 1):
        try:
            rule = parse_rule(line, f"{file}:{lineno}")
        except RuleSyntaxError as exc:
            out.rejected.append(Rejection(file, lineno, shorten(line), str(exc)))
            continue
        if rule is None:
            if line.strip():
                out.skipped["comment"] += 1
        elif rule in seen:
            out.skipped["duplicate"] += 1
        else:
            seen.add(rule)
            out.rules.append(rule)
    return out


def read_rules_file(path: Path, display_name: str | None = None) -> ParsedRules:
    """Read and parse a rule file. Raises `RulesFileError` if it cannot be read at all."""
    name = display_name or str(path)
    return parse_rules_text(decode_text(read_own_bytes(path, name)), name)


def format_rule(rule: Rule) -> str:
    """The line to write back to a rule file."""
    return rule.text


def regex_error(pattern: str) -> str | None:
    """Why RE2 refuses `pattern`, or None if it compiles.

    RE2 has no backtracking, so anything it accepts matches in linear time: a list cannot slow the
    proxy down with a pathological pattern such as `(a+)+$`.
    """
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        message = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(message, bytes):
            message = message.decode("utf-8", errors="replace")
        code, _, detail = str(message).partition(": ")
        return code if not detail or detail == pattern else f"{code}: {detail}"
    return None


def parse_url_prefix(text: str) -> tuple[RuleKind, str]:
    """`host[/path]` (or a pasted URL) as DOMAIN, EXACT (an IP address) or PATH `host/path`.

    The fragment is dropped, the query kept, the path normalised as requests' paths are (its
    case kept: see `path_rule_value`). Raises `RuleSyntaxError`.
    """
    text = text.split("#", 1)[0]
    if scheme := _SCHEME.match(text):
        text = text[scheme.end() :]
    if text.startswith("*."):
        text = text[2:]
    end = len(text)
    for sep in "/?":
        at = text.find(sep)
        if at != -1:
            end = min(end, at)
    host, path = text[:end], text[end:]
    if path.startswith("?"):
        path = "/" + path
    host = _host(_drop_user_and_port(host))
    if any(c.isspace() for c in path):
        raise RuleSyntaxError("a URL cannot contain spaces")
    if path:
        path = normalise_path(path)
    if len(path) > 1:
        return RuleKind.PATH, host + path
    return (RuleKind.EXACT if is_ip_literal(host) else RuleKind.DOMAIN), host


def shorten(line: str) -> str:
    """Enough of a rejected line to find it; a runaway line is not kept whole."""
    if len(line) <= _REJECTED_TEXT_LIMIT:
        return line
    return line[: _REJECTED_TEXT_LIMIT - 3] + "..."


def _strip_comment(text: str) -> str:
    if "#" not in text:
        return text
    match = _COMMENT.search(text)
    return text[: match.start()] if match else text


def _options(text: str) -> frozenset[str]:
    """The options named (`important`, `match-case`); any other option is refused, not ignored."""
    found: set[str] = set()
    for option in text.split(","):
        name = option.strip().lower()
        if name in (_IMPORTANT, _MATCH_CASE):
            found.add(name)
        elif name:
            shown = name.split("=", 1)[0]
            raise RuleSyntaxError(
                f"the option ${shown} is not supported (only $important and $match-case are)"
            )
    return frozenset(found)


def _match_case_refusal(kind: RuleKind) -> str:
    if kind is RuleKind.REGEX:
        return "$match-case works on path rules only; in a regex, start it with (?-i) instead"
    return "$match-case works on path rules only (host names and keywords ignore case)"


def _parse_body(body: str) -> tuple[RuleKind, str, frozenset[str]]:
    if not body:
        raise RuleSyntaxError("empty rule")
    if body.startswith("/"):
        return RuleKind.REGEX, _regex(body), frozenset()
    if _COSMETIC.search(body):
        raise RuleSyntaxError("element-hiding rules (##) are not supported")
    if body.startswith("||"):
        return _adblock(body[2:])
    if body[: len(_KEYWORD_PREFIX)].lower() == _KEYWORD_PREFIX:
        return RuleKind.KEYWORD, _keyword(body[len(_KEYWORD_PREFIX) :]), frozenset()
    if body.startswith("="):
        host = body[1:].split("#", 1)[0].strip()
        if "/" in host:
            raise RuleSyntaxError("an exact rule names a host only, without a path")
        return RuleKind.EXACT, _host(host), frozenset()
    kind, value = parse_url_prefix(body)
    return kind, value, frozenset()


def _adblock(rest: str) -> tuple[RuleKind, str, frozenset[str]]:
    rest, dollar, options = rest.partition("$")
    found = _options(options) if dollar else frozenset()
    rest = rest.removesuffix("|").removesuffix("^")
    if any(c in rest for c in "*^|"):
        raise RuleSyntaxError(
            "wildcards and separators inside an Adblock rule are not supported; use a /regex/"
        )
    if not rest:
        raise RuleSyntaxError("no host name after '||'")
    kind, value = parse_url_prefix(rest)
    return kind, value, found


def _regex(body: str) -> str:
    if len(body) < 2 or not body.endswith("/"):
        raise RuleSyntaxError("a regex starts and ends with '/'")
    pattern = body[1:-1]
    if not pattern:
        raise RuleSyntaxError("empty regex")
    if reason := regex_error(pattern):
        raise RuleSyntaxError(f"regex does not compile: {reason}")
    return pattern


def _keyword(text: str) -> str:
    word = text.split("#", 1)[0].strip().lower()
    if not word:
        raise RuleSyntaxError("a keyword rule needs a word, like 'keyword: casino'")
    bad = sorted({c for c in word if not c.isalnum()})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise RuleSyntaxError(f"a keyword is one word of letters and digits; found {shown}")
    return word


def _host(text: str) -> str:
    try:
        return normalise_host(text)
    except InvalidHost as exc:
        raise RuleSyntaxError(str(exc)) from None


def _drop_user_and_port(host: str) -> str:
    host = host.rsplit("@", 1)[-1]
    if host.startswith("["):
        end = host.find("]")
        if end != -1 and host[end + 1 : end + 2] == ":" and host[end + 2 :].isdigit():
            return host[: end + 1]
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
        if port.isdigit():
            return name
    return host
