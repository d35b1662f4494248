"""Help is never blocked (issue 14, item 5), and `candor rules test` on many URLs (item 4).

A search for help is told by phrase, never by one word; it is never closed by a keyword rule,
SafeSearch stays enforced on it, and it is counted (a count only at the summary level). Help and
recovery sites from the shipped help list outrank every rule. Tested through the recogniser, the
matcher, the real `candor` command and a real agent.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.proxy.pages.render import PageInfo, block_page
from rules.help_seeking import HELP_SEARCH_SOURCE, HelpPhrases, PhrasesError, help_search
from rules.help_sites import (
    HELP_LIST_SOURCE,
    HelpSitesError,
    help_links,
    help_site_rules,
    help_sites,
    parse_help_sites,
)
from rules.matcher import CategoryPolicy, Matcher, Policy
from rules.model import Decision, Rule, RuleKind
from rules.search_engines import search_in_url
from tests.conftest import REPO, candor, command
from tests.origins import Origin, OriginCert
from tests.proxy_fixtures import RunningAgent, client_context, start_agent
from tests.report_helpers import next_report

HELP_SEARCHES = [
    "porn addiction help",
    "how to quit pornography",
    "sex addicts anonymous meetings",
    "rebuilding trust after relapse",
    "Porn Addiction Recovery",
    "addicted to porn what do I do",
    "how to stop watching porn",
    "free sex addicts anonymous meetings",  # "free" belongs to the meetings here
    "gambling addiction support group",
    "arrêter le porno",  # French
    "addiction au porno aide",
    "Pornosucht Hilfe",  # German: one word, topic and need
    "sexsüchtig Beratung",
    "wie kann ich mit Porno aufhören",
    "adicción al porno",  # Spanish
    "cómo dejar el porno",
    "Sexólicos Anónimos",
]

NOT_HELP = [
    "free porn help",  # "help" alone never counts
    "porn help me find",
    "help finding porn",
    "porn help",
    "best porn",
    "porn",
    "therapist porn",  # a kind of content, not a need
    "addicted porn",
    "hd porn",
    "xxx addiction",  # a word only content searches use
    "porn addiction nude",
    "sex addicts anonymous free porn",  # a phrase does not cover "free porn" beside it
    "kostenlos Porno",
]


@pytest.mark.parametrize("terms", HELP_SEARCHES)
def test_help_seeking_searches_are_recognised_by_phrase(terms: str) -> None:
    assert help_search(terms) is not None


@pytest.mark.parametrize("terms", NOT_HELP)
def test_one_word_is_never_a_way_around_keyword_rules(terms: str) -> None:
    assert help_search(terms) is None


def test_a_phrases_file_names_its_bad_line() -> None:
    with pytest.raises(PhrasesError, match=r"mine\.txt:2: expected 'kind: words'"):
        HelpPhrases.from_text("topic: porn\nmaybe: quit\n", "mine.txt")
    own = HelpPhrases.from_text("topic: widgets\nneed: withdrawal\nphrase: widget anonymous\n")
    assert str(own.recognise("Widgets withdrawal")) == "widgets + withdrawal"
    assert str(own.recognise("widget anonymous")) == "widget + anonymous"
    assert own.recognise("porn addiction") is None


def test_the_help_list_holds_real_sites_and_says_which_pages_offer_them() -> None:
    hosts = {site.host for site in help_sites()}
    assert {"saa-recovery.org", "sa.org", "slaafws.org", "smartrecovery.org"} <= hosts
    assert len(hosts) == len(help_sites())  # no site twice
    assert [s.host for s in help_links("gambling")][:1] == ["gamblersanonymous.org"]
    assert 1 <= len(help_links("adult")) <= 3
    with pytest.raises(HelpSitesError, match=r"sites\.txt:1: 'bad!host' is not a host name"):
        parse_help_sites("bad!host Name\n")
    with pytest.raises(HelpSitesError, match="needs a name"):
        parse_help_sites("example.org\n")


def keyword_policy(*rules: Rule) -> Matcher:
    adult = CategoryPolicy(
        "adult", "block", [Rule(RuleKind.KEYWORD, "porn", source="adult.txt:1"), *rules]
    )
    return Matcher.compile(Policy(categories=[adult], help_sites=help_site_rules()))


def test_the_matcher_never_closes_a_search_for_help_with_a_keyword() -> None:
    matcher = keyword_policy()
    url = "https://www.google.com/search?q=porn+addiction+help"
    helped = matcher.decide(url, search_terms="porn addiction help")
    assert helped == Decision("allow", rule="porn + addiction", source=HELP_SEARCH_SOURCE)
    assert matcher.decide(url).decision == "block"  # without its terms read: the URL's words
    free = "https://www.google.com/search?q=free+porn+help"
    assert matcher.decide(free, search_terms="free porn help").decision == "block"
    # A host rule still decides: only words give way to a search for help.
    closed = keyword_policy(Rule(RuleKind.EXACT, "www.google.com", source="adult.txt:2"))
    assert closed.decide(url, search_terms="porn addiction help").rule == "=www.google.com"


def test_help_sites_outrank_keywords_and_block_rules() -> None:
    matcher = keyword_policy(Rule(RuleKind.DOMAIN, "saa-recovery.org", source="adult.txt:2"))
    decision = matcher.decide("https://www.saa-recovery.org/porn-addiction/")
    assert decision == Decision("allow", rule="saa-recovery.org", source=HELP_LIST_SOURCE)
    assert matcher.check_host("saa-recovery.org").decision.source == HELP_LIST_SOURCE
    assert matcher.check_host("saa-recovery.org").intercept is False  # never decrypted for it
    assert matcher.decide("https://not-saa-recovery.org/porn").decision == "block"


def test_engine_urls_give_their_search_terms() -> None:
    google = search_in_url("https://www.google.com/search?q=porn+addiction+help&hl=en")
    assert google is not None and (google.engine, google.terms) == ("google", "porn addiction help")
    youtube = search_in_url("https://www.youtube.com/results?search_query=porn%20recovery")
    assert youtube is not None and youtube.terms == "porn recovery"
    suggestion = search_in_url("https://duckduckgo.com/ac/?q=porn+addi")
    assert suggestion is not None and suggestion.suggestion
    assert search_in_url("https://www.google.com/url?q=https://example.com/") is None
    assert search_in_url("https://mail.google.com/search?q=porn") is None


def test_the_block_page_offers_help_as_plain_links() -> None:
    page = block_page(
        PageInfo(
            host="blocked.test",
            url="https://blocked.test/",
            decision=Decision("block", "adult", "block", "blocked.test", "adult.txt:1"),
            token="t",
        )
    )
    assert "If you would like support:" in page
    assert '<a href="https://saa-recovery.org/" rel="noreferrer noopener">' in page


# --- `candor rules test` on many URLs ------------------------------------------------------------


def rules_test(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        command("--home", str(home), "rules", "test", *args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_rules_test_answers_every_url_in_order_with_its_reason(home_dir: Path) -> None:
    lines = [
        "https://www.google.com/search?q=porn+addiction+help",
        "# a comment, then a blank line",
        "",
        "https://www.youtube.com/results?search_query=porn+addiction+recovery",
        "https://www.google.com/search?q=free+porn+help",
        "http://not a host/",
        "https://www.saa-recovery.org/porn",
        "example.org",
    ]
    proc = rules_test(home_dir, "https://pornhub.com/", "-", "--json", stdin="\n".join(lines))
    assert proc.returncode == 1  # one line was not a URL; every other line was still answered
    assert "1 of the lines given was not a web address" in proc.stderr
    shown = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [s["url"] for s in shown] == [
        "https://pornhub.com/",
        *(line for line in lines if line and not line.startswith("#")),
    ]
    fields = {"url", "decision", "category", "action", "rule", "source", "pending_until", "reason"}
    assert all(set(s) == fields for s in shown if s["decision"] is not None)
    pornhub, google, youtube, free, bad, saa, plain = shown
    assert pornhub["decision"] == "block"
    assert pornhub["reason"].startswith("host rule 'pornhub.com'")
    assert google["decision"] == youtube["decision"] == "allow"
    assert google["source"] == HELP_SEARCH_SOURCE and "help-seeking search" in google["reason"]
    assert free["decision"] == "block" and free["reason"].startswith("keyword 'porn' in adult")
    assert bad == {"url": "http://not a host/", "decision": None, "error": bad["error"]}
    assert saa["decision"] == "allow" and saa["reason"].startswith("help list")
    assert plain["reason"] == "no rule matches"

    text = rules_test(home_dir, "https://pornhub.com/", "https://example.org/")
    assert text.returncode == 0
    assert text.stdout.splitlines() == [
        f"https://pornhub.com/: {text.stdout.splitlines()[0].split(': ', 1)[1]}",
        "https://example.org/: Allowed: no rule matches.",
    ]


def test_rules_test_reads_a_thousand_urls_from_stdin(home_dir: Path) -> None:
    urls = [f"https://site{i}.example/page" for i in range(999)] + ["https://pornhub.com/"]
    proc = rules_test(home_dir, "-", "--json", stdin="\n".join(urls) + "\n")
    assert proc.returncode == 0, proc.stderr
    shown = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [s["url"] for s in shown] == urls
    assert [s["decision"] for s in shown].count("block") == 1


# --- through a real agent -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def summary_agent(
    tmp_path_factory: pytest.TempPathFactory, origin_cert: OriginCert
) -> Iterator[RunningAgent]:
    """An agent at the summary level with the starter lists (`keyword: porn` among them)."""
    home = tmp_path_factory.mktemp("help") / "home"
    candor(home, "rules", "list", check=True)
    (home / "config.toml").write_text('detail_level = "summary"\n')
    running = start_agent(
        home, "--listen", "127.0.0.1:0", "--resolve", "*:127.0.0.1",
        "--upstream-ca", str(origin_cert.cert),
    )  # fmt: skip
    yield running
    assert running.stop() == 0, "".join(running.stderr_lines)


def test_a_search_for_help_goes_through_a_real_agent_and_is_counted(
    summary_agent: RunningAgent, origin: Origin, origin_cert: OriginCert
) -> None:
    verify = client_context(summary_agent.ca_cert, origin_cert.cert)
    with httpx.Client(proxy=summary_agent.proxy_url, verify=verify, timeout=10) as browser:
        google = browser.get(origin.https("www.google.com", "/search?q=porn+addiction+help"))
        assert google.status_code == 200
        assert google.json()["query"]["safe"] == ["active"]  # SafeSearch stays enforced
        youtube = browser.get(
            origin.https("www.youtube.com", "/results?search_query=porn+addiction+recovery")
        )
        assert youtube.status_code == 200
        assert youtube.json()["headers"]["youtube-restrict"] == "Strict"
        typing = browser.get(origin.https("www.google.com", "/complete/search?q=porn+addiction"))
        assert typing.status_code == 200  # never closed, but typing is not counted
        free = browser.get(origin.https("www.google.com", "/search?q=free+porn+help"))
        assert free.status_code == 403
        helped = browser.get(origin.http("www.saa-recovery.org", "/porn-addiction/"))
        assert helped.status_code == 200  # a help site, although `porn` is in its path

    counted = summary_agent.wait_for_event("search", lambda e: e.get("help") is True)
    assert "terms" not in counted  # the summary level keeps a count only
    deadline = time.monotonic() + 10  # the journal writer commits its batch within a second
    while len(helps := [e for e in summary_agent.events("search") if e.get("help")]) < 2:
        assert time.monotonic() < deadline, helps
        time.sleep(0.1)
    assert sorted(e["engine"] for e in helps) == ["google", "youtube"]
    decisions = summary_agent.events("decision")
    assert not any(e["host"].endswith("saa-recovery.org") for e in decisions)

    document, text = next_report(summary_agent.home)
    assert document["summary"]["help_searches"] == 2
    assert "Searches for help or recovery: 2." in text
    assert "addiction" not in json.dumps(document) + text  # never the terms
