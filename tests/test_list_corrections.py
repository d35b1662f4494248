"""Candor's corrections to public lists (`rules.list_corrections`): a host a list carries by
mistake is left out of every list as it is read, shipped snapshot included, and said among the
skipped lines; the person's own rules still block it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules.catalogue import by_name, snapshot_bytes
from rules.list_corrections import (
    SKIPPED_REASON,
    CorrectionsError,
    correct,
    packaged_corrections,
    parse_corrections,
)
from rules.model import ImportedEntries
from tests.conftest import candor


def decision(home: Path, url: str) -> dict:
    return json.loads(candor(home, "rules", "test", url, "--json", check=True).stdout)


def test_the_shipped_corrections_read_and_each_says_what_the_site_is() -> None:
    corrections = packaged_corrections()
    assert {c.host for c in corrections} >= {"gaystarnews.com", "sexogsamfunn.no"}
    assert all(c.what for c in corrections)


def test_a_bad_line_names_the_file_and_line() -> None:
    with pytest.raises(CorrectionsError, match=r"mistakes.txt:2: .*bad!host"):
        parse_corrections("# comment\nbad!host.example what it is\n")
    with pytest.raises(CorrectionsError, match=r"mistakes.txt:1: say what the site is"):
        parse_corrections("example.org\n")


def test_correct_removes_a_mistake_and_its_www_form_and_counts_them() -> None:
    entries = ImportedEntries(
        domains=["porn.example", "gaystarnews.com"], exact=["www.gaystarnews.com", "x.test"]
    )
    correct(entries)
    assert entries.domains == ["porn.example"] and entries.exact == ["x.test"]
    assert entries.skipped[SKIPPED_REASON] == 2


def test_the_shipped_snapshot_carries_a_mistake_a_fresh_home_does_not_block(
    home_dir: Path,
) -> None:
    """Sinfonietta's list names an LGBTQ news site; a fresh home's snapshot leaves it out while
    the rest of the list blocks, and a person who wants it blocked still can."""
    raw = snapshot_bytes(by_name("sinfonietta-porn")).decode()
    assert "gaystarnews.com" in raw.split()
    assert decision(home_dir, "https://gaystarnews.com/")["decision"] == "allow"
    assert decision(home_dir, "https://www.gaystarnews.com/")["decision"] == "allow"
    assert decision(home_dir, "https://m.artnudelist.com/")["decision"] == "block"
    candor(home_dir, "rules", "add", "adult", "gaystarnews.com", check=True)
    assert decision(home_dir, "https://gaystarnews.com/")["decision"] == "block"


def test_an_import_says_how_many_known_mistakes_it_left_out(home_dir: Path, tmp_path: Path) -> None:
    listed = tmp_path / "mine.txt"
    listed.write_text("porn.example\ngaystarnews.com\nwww.sexogsamfunn.no\n")
    proc = candor(home_dir, "rules", "import", str(listed), "--category", "adult", check=True)
    assert f"2 {SKIPPED_REASON}" in proc.stdout
    assert decision(home_dir, "https://porn.example/")["decision"] == "block"
    assert decision(home_dir, "https://www.sexogsamfunn.no/")["decision"] == "allow"
