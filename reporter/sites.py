"""The sites a week's decisions were on, as the partner reads them: a short list of hosts, then
the rest grouped per site ("and 9,970 more hosts under example.test"), each saying whether the
person opened it or a page pulled it in.

A page the person visits can pull in thousands of made-up hosts; the report lists at most
`HOSTS_LISTED` hosts per category (most frequent first) and `SITES_LISTED` groups per category,
so its size does not grow with what a page sends. The journal already groups such hosts
(`hosts` rows, see agent/proxy/addons/recorder.py); older or smaller bursts are grouped here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.journal.events import decisions_in
from reporter.document import DomainEntry, MoreHosts, Origins
from rules.sites import registrable_domain

HOSTS_LISTED = 20
"""Hosts listed one by one per category; the rest are grouped by site."""
SITES_LISTED = 10
"""Site groups listed per category; the rest are "other sites"."""
REFERRERS_LISTED = 3
"""Pages named as having pulled a host in, per host."""
OTHER_SITES = "*"
"""The host of a journal row grouping hosts on other sites (the recorder's `OTHER_SITES`)."""

Origin = Literal["opened", "pulled_in", "unknown"]
DECISIONS = ("block", "warn", "log")


def origin(body: Mapping[str, Any]) -> Origin:
    """Whether the person opened it, a page pulled it in, or nobody can tell (older rows and
    refused connections)."""
    request = body.get("request")
    if request == "navigation":
        return "opened"
    if request == "subresource":
        return "pulled_in"
    return "unknown"


def origins(counts: Mapping[Origin, Counter[str]]) -> Origins:
    """The week's counts split by who chose the page."""
    return Origins(**{name: _counts(counts.get(name, Counter())) for name in Origins.model_fields})


@dataclass
class _Tally:
    """Counts for one listed host or one group of hosts."""

    decisions: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)
    referrers: Counter[str] = field(default_factory=Counter)
    times: list[str] = field(default_factory=list)
    hosts: int = 0
    sites: int = 0

    def add(self, decision: str, body: Mapping[str, Any], n: int) -> None:
        self.decisions[decision] += n
        self.origins[origin(body)] += n
        if isinstance(referrer := body.get("referrer"), str) and referrer:
            self.referrers[referrer] += n

    def merge(self, other: _Tally) -> None:
        self.decisions.update(other.decisions)
        self.origins.update(other.origins)
        self.referrers.update(other.referrers)
        self.hosts += other.hosts
        self.sites += other.sites


@dataclass
class SiteTallies:
    """The decision rows of a week, per host and per grouped site, until listed."""

    hosts: dict[tuple[str, str | None], _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    groups: dict[tuple[str | None, str | None], _Tally] = field(
        default_factory=lambda: defaultdict(_Tally)
    )

    def add(self, host: str, category: str | None, decision: str, body: Mapping[str, Any],
            ts: str) -> None:  # fmt: skip
        """One decision row on `host` (a grouped row when it carries `hosts`)."""
        n = decisions_in(body)
        if "hosts" in body:
            site = None if host == OTHER_SITES else host
            group = self.groups[(site, category)]
            group.add(decision, body, n)
            group.hosts += n
            sites = body.get("sites")
            group.sites += sites if isinstance(sites, int) and site is None else 0
            return
        tally = self.hosts[(host, category)]
        tally.add(decision, body, n)
        tally.times.append(ts)

    def entries(self, detailed: bool) -> tuple[list[DomainEntry], list[MoreHosts]]:
        """The hosts listed one by one (most frequent first), and the groups after them."""
        by_category: dict[str | None, list[tuple[str, _Tally]]] = defaultdict(list)
        for (host, category), tally in self.hosts.items():
            by_category[category].append((host, tally))
        groups: dict[str | None, dict[str | None, _Tally]] = defaultdict(dict)
        for (site, category), tally in self.groups.items():
            groups[category][site] = tally
        listed: list[tuple[str, str | None, _Tally]] = []
        for category, hosts in by_category.items():
            hosts.sort(key=lambda item: (-item[1].decisions.total(), item[0]))
            listed += [(host, category, tally) for host, tally in hosts[:HOSTS_LISTED]]
            for host, tally in hosts[HOSTS_LISTED:]:
                site = registrable_domain(host)
                group = groups[category].setdefault(site, _Tally())
                group.merge(tally)
                group.hosts += 1
        listed.sort(key=lambda item: (-item[2].decisions.total(), item[0]))
        domains = [_domain(host, category, tally, detailed) for host, category, tally in listed]
        more: list[MoreHosts] = []
        for category in sorted(groups, key=lambda c: c or ""):
            more += _groups(category, groups[category])
        return domains, more


def _groups(category: str | None, groups: dict[str | None, _Tally]) -> list[MoreHosts]:
    """One category's groups: the largest sites, then one line for the other sites."""
    other = groups.pop(None, None) or _Tally()
    ranked = sorted(groups.items(), key=lambda item: (-item[1].decisions.total(), item[0] or ""))
    for _, tally in ranked[SITES_LISTED:]:
        other.merge(tally)
        other.sites += 1
    shown: list[tuple[str | None, _Tally]] = list(ranked[:SITES_LISTED])
    if other.hosts:
        shown.append((None, other))
    return [
        MoreHosts(
            category=category,
            site=site,
            hosts=tally.hosts,
            sites=tally.sites if site is None else None,
            opened=tally.origins["opened"],
            pulled_in=tally.origins["pulled_in"],
            pulled_in_by=_referrers(tally),
            **_counts(tally.decisions),
        )
        for site, tally in shown
    ]


def _domain(host: str, category: str | None, tally: _Tally, detailed: bool) -> DomainEntry:
    return DomainEntry(
        host=host,
        category=category,
        times=tally.times if detailed else None,
        opened=tally.origins["opened"],
        pulled_in=tally.origins["pulled_in"],
        pulled_in_by=_referrers(tally),
        **_counts(tally.decisions),
    )


def _referrers(tally: _Tally) -> list[str] | None:
    names = sorted(tally.referrers.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in names[:REFERRERS_LISTED]] or None


def _counts(counter: Counter[str]) -> dict[str, int]:
    return {name: counter.get(name, 0) for name in DECISIONS}
