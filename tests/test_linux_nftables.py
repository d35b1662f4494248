"""Candor's nftables table (issue 13): its text is pinned, deterministic, and refused for a bad
parameter. That the kernel takes it and prints it back unchanged, and what it does to traffic,
is tested in a network namespace (tests/test_transparent.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from installers.platforms.linux_nftables import (
    Capture,
    RulesetError,
    delete_command,
    redirect_ports,
    render,
    ruleset_hash,
)
from tests.snapshot_compare import UPDATE_FLAG, compare_snapshot

SNAPSHOTS = Path(__file__).parent / "snapshots"

FULL = Capture(
    candor_uid=998,
    transparent_port=8081,
    dns_port=5353,
    lan=["192.168.1.0/24", "10.0.0.0/8", "10.1.0.0/16", "fd00::/8", "192.168.7.7"],
)


@pytest.mark.parametrize(
    ("name", "capture"),
    [
        ("nftables-minimal.nft", Capture(candor_uid=998, transparent_port=8081)),
        ("nftables-full.nft", FULL),
    ],
)
def test_the_table_is_pinned(request: pytest.FixtureRequest, name: str, capture: Capture) -> None:
    compare_snapshot(
        SNAPSHOTS / name, render(capture), update=bool(request.config.getoption(UPDATE_FLAG))
    )


def test_the_same_settings_give_the_same_text_and_hash() -> None:
    shuffled = Capture(998, 8081, 5353, lan=list(reversed(FULL.lan)))
    assert render(shuffled) == render(FULL)
    assert ruleset_hash(render(shuffled)) == ruleset_hash(render(FULL))
    other = Capture(998, 8082, 5353, lan=FULL.lan)
    assert ruleset_hash(render(other)) != ruleset_hash(render(FULL))
    assert len(ruleset_hash(render(FULL))) == 64


def test_overlapping_lan_ranges_are_merged_and_a_single_address_has_no_prefix() -> None:
    text = render(FULL)
    assert "ip daddr { 10.0.0.0/8, 192.168.1.0/24, 192.168.7.7 } return" in text
    assert "10.1.0.0/16" not in text
    assert "ip6 daddr fd00::/8 return" in text


def test_dns_is_redirected_only_when_asked_and_before_the_lan_is_left_alone() -> None:
    assert "dport 53" not in render(Capture(998, 8081))
    lines = render(FULL).splitlines()
    dns = next(i for i, line in enumerate(lines) if "th dport 53 redirect to :5353" in line)
    lan = next(i for i, line in enumerate(lines) if "192.168.1.0/24" in line)
    assert dns < lan  # the router's resolver is on the LAN: its DNS is still Candor's


@pytest.mark.parametrize(
    ("capture", "words"),
    [
        (Capture(998, 0), "transparent port"),
        (Capture(998, 70000), "transparent port"),
        (Capture(998, 8081, dns_port=0), "DNS port"),
        (Capture(-1, 8081), "user id"),
        (Capture(998, 8081, lan=["192.168.1.0/33"]), "LAN range"),
        (Capture(998, 8081, lan=["printer.lan"]), "LAN range"),
    ],
)
def test_a_bad_parameter_is_refused_in_words(capture: Capture, words: str) -> None:
    with pytest.raises(RulesetError, match=words):
        render(capture)


def test_the_table_the_docs_show_is_the_one_rendered() -> None:
    shown = Capture(998, 8081, 5353, lan=["10.0.0.0/8", "192.168.1.0/24"])
    docs = (Path(__file__).parents[1] / "docs" / "capture.md").read_text()
    assert render(shown) in docs


def test_the_table_is_deleted_by_name() -> None:
    assert delete_command() == "delete table inet candor\n"


def test_the_redirect_ports_are_read_back_from_the_text() -> None:
    both = render(
        Capture(candor_uid=990, transparent_port=15444, dns_port=15353, lan=["10.0.0.0/8"])
    )
    assert redirect_ports(both) == (15444, 15353)
    assert redirect_ports(render(Capture(candor_uid=990, transparent_port=8443))) == (8443, None)
