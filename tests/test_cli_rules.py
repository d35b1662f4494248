"""The rule editor's commands, run as a person runs them: the real `candor` in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.conftest import candor, without_shipped_lists


def decision(home: Path, url: str, *extra: str) -> dict:
    proc = candor(home, "rules", "test", url, "--json", *extra, check=True)
    return json.loads(proc.stdout)


def test_fresh_home_blocks_starter_categories_without_setup(home_dir: Path) -> None:
    listed = json.loads(candor(home_dir, "rules", "list", "--json", check=True).stdout)
    assert {row["category"]: row["action"] for row in listed} == {
        "adult": "block",
        "bypass": "block",
        "gambling": "block",
    }
    assert all(row["rules"] > 20 for row in listed)
    assert decision(home_dir, "https://www.pornhub.com/")["decision"] == "block"
    assert decision(home_dir, "https://example.org/")["decision"] == "allow"
    assert (home_dir.stat().st_mode & 0o777) == 0o700


def test_add_test_remove_round_trip(home_dir: Path) -> None:
    proc = candor(home_dir, "rules", "add", "gambling", "ExampleBets.com.", "=cdn.example.net")
    assert proc.returncode == 0, proc.stderr
    assert "Added to gambling: examplebets.com" in proc.stdout

    d = decision(home_dir, "https://live.examplebets.com/odds?x=1")
    assert d == {
        "url": "https://live.examplebets.com/odds?x=1",
        "decision": "block",
        "category": "gambling",
        "action": "block",
        "rule": "examplebets.com",
        "source": d["source"],
        "pending_until": None,
        "reason": f"host rule 'examplebets.com' in gambling ({d['source']})",
    }
    assert d["source"].startswith("gambling.txt:")
    assert decision(home_dir, "https://notexamplebets.com/")["decision"] == "allow"
    assert decision(home_dir, "https://cdn.example.net/")["decision"] == "block"
    assert decision(home_dir, "https://x.cdn.example.net/")["decision"] == "allow"

    again = candor(home_dir, "rules", "add", "gambling", "examplebets.com", check=True)
    assert "Already there" in again.stdout
    text = (home_dir / "rules" / "gambling.txt").read_text()
    assert text.count("examplebets.com") == 1

    proc = candor(home_dir, "rules", "remove", "gambling", "||examplebets.com^", check=True)
    assert "Removed from gambling: examplebets.com" in proc.stdout
    assert decision(home_dir, "https://examplebets.com/")["decision"] == "allow"
    assert "examplebets.com" not in (home_dir / "rules" / "gambling.txt").read_text()


def test_invalid_rule_is_refused_whole_with_a_reason(home_dir: Path) -> None:
    before = candor(home_dir, "rules", "list", "gambling", "--json", check=True).stdout
    proc = candor(home_dir, "rules", "add", "gambling", "ok.example", "/(unclosed/")
    assert proc.returncode == 1
    assert "not a valid rule" in proc.stderr and "Nothing was added" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert candor(home_dir, "rules", "list", "gambling", "--json").stdout == before


def test_remove_of_unknown_rule_fails_kindly(home_dir: Path) -> None:
    proc = candor(home_dir, "rules", "remove", "gambling", "never-added.example")
    assert proc.returncode == 1
    assert "Nothing was removed" in proc.stderr


def test_idn_hosts_are_matched_as_punycode(home_dir: Path) -> None:
    candor(home_dir, "rules", "add", "adult", "bücher-beispiel.de", check=True)
    d = decision(home_dir, "https://www.xn--bcher-beispiel-gsb.de/")
    assert d["decision"] == "block" and d["rule"] == "xn--bcher-beispiel-gsb.de"
    assert decision(home_dir, "https://WWW.Bücher-Beispiel.de./x")["decision"] == "block"


def test_keyword_matches_whole_words_only(home_dir: Path) -> None:
    candor(home_dir, "rules", "add", "adult", "keyword: sex", check=True)
    assert decision(home_dir, "https://free-sex-videos.example/")["decision"] == "block"
    assert decision(home_dir, "https://search.example/?q=sex+tips")["decision"] == "block"
    assert decision(home_dir, "https://visitessex.example/")["decision"] == "allow"
    search = decision(home_dir, "https://search.example/", "--search", "sex tips")
    assert search["decision"] == "block" and search["rule"] == "keyword: sex"


def test_human_explanation_names_rule_and_file(home_dir: Path) -> None:
    proc = candor(home_dir, "rules", "test", "https://pornhub.com/x", check=True)
    assert "Blocked by the rule 'pornhub.com' (adult.txt:" in proc.stdout
    proc = candor(home_dir, "rules", "test", "https://example.org/", check=True)
    assert proc.stdout.strip() == "Allowed: no rule matches."


def test_import_real_list_then_test_and_check(home_dir: Path, sample_lists: Path) -> None:
    without_shipped_lists(home_dir)  # the shipped snapshot has this list too
    src = sample_lists / "blocklistproject" / "gambling.hosts.txt"
    proc = candor(home_dir, "rules", "import", str(src), "--category", "gambling", check=True)
    assert "2,510 accepted" in proc.stdout
    assert "as hosts" in proc.stdout
    d = decision(home_dir, "https://www.11wickets.com/")
    assert d["decision"] == "block"
    assert d["source"] == "lists/gambling/gambling.hosts"
    listed = json.loads(candor(home_dir, "rules", "list", "--json", check=True).stdout)
    gambling = next(r for r in listed if r["category"] == "gambling")
    assert gambling["lists"] == 1 and gambling["list_entries"] == 2510
    assert candor(home_dir, "rules", "check").returncode == 0

    removed = candor(home_dir, "rules", "remove", "gambling", "--list", "gambling.hosts")
    assert removed.returncode == 0, removed.stderr
    assert decision(home_dir, "https://www.11wickets.com/")["decision"] == "allow"


def test_import_exact_keeps_hosts_file_meaning(home_dir: Path, sample_lists: Path) -> None:
    without_shipped_lists(home_dir)  # the shipped snapshot blocks m.www.11wickets.com
    src = sample_lists / "blocklistproject" / "gambling.hosts.txt"
    candor(home_dir, "rules", "import", str(src), "--category", "betting", "--exact", check=True)
    assert decision(home_dir, "https://www.11wickets.com/")["decision"] == "block"
    assert decision(home_dir, "https://m.www.11wickets.com/")["decision"] == "allow"


def test_import_reports_rejections_with_file_and_line(home_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "mixed.txt"
    src.write_text("# a list\ngood.example\nbad host.example\n\nalso-good.example\n")
    proc = candor(home_dir, "rules", "import", str(src), "--category", "dating")
    assert proc.returncode == 0, proc.stderr
    assert "2 accepted" in proc.stdout and "1 rejected" in proc.stdout
    assert f"{src}:3:" in proc.stdout


def test_import_of_nothing_usable_fails(home_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n")
    proc = candor(home_dir, "rules", "import", str(empty), "--category", "dating")
    assert proc.returncode == 1 and "Nothing could be imported" in proc.stderr
    missing = candor(home_dir, "rules", "import", str(tmp_path / "nope.txt"), "--category", "x")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    assert not list((home_dir / "lists").glob("*/*.json"))


def test_import_from_url_and_update(home_dir: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lists/dating.txt").respond_with_data(
        "||first.example^\n||second.example^\n", content_type="text/plain"
    )
    url = httpserver.url_for("/lists/dating.txt")
    proc = candor(home_dir, "rules", "import", url, "--category", "dating", check=True)
    assert "2 accepted" in proc.stdout and "as adblock" in proc.stdout
    assert decision(home_dir, "https://a.second.example/")["decision"] == "block"

    httpserver.clear()
    httpserver.expect_request("/lists/dating.txt").respond_with_data("||third.example^\n")
    candor(home_dir, "rules", "update", check=True)
    assert decision(home_dir, "https://third.example/")["decision"] == "block"
    assert decision(home_dir, "https://second.example/")["decision"] == "allow"

    httpserver.clear()
    httpserver.expect_request("/lists/dating.txt").respond_with_data("gone", status=404)
    failed = candor(home_dir, "rules", "update")
    assert failed.returncode == 1 and "404" in failed.stderr
    assert decision(home_dir, "https://third.example/")["decision"] == "block"


def test_rules_check_names_every_problem(home_dir: Path) -> None:
    candor(home_dir, "rules", "list", check=True)
    path = home_dir / "rules" / "gambling.txt"
    path.write_text(path.read_text() + "bad host.example\n/(oops/\n")
    proc = candor(home_dir, "rules", "check")
    assert proc.returncode == 1
    assert "gambling.txt:" in proc.stderr and "2 problem" in proc.stderr
    report = json.loads(candor(home_dir, "rules", "check", "--json").stdout)
    assert report["ok"] is False and len(report["problems"]) == 2


def test_a_rules_file_that_is_a_link_is_refused_not_shown(home_dir: Path, tmp_path: Path) -> None:
    """Issue 12, item 14: a link under the home could make Candor read, and `rules check` show,
    any file on the computer."""
    candor(home_dir, "rules", "list", check=True)
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("root:$6$not-for-anyone-else\n")
    path = home_dir / "rules" / "gambling.txt"
    path.unlink()
    path.symlink_to(secret)
    proc = candor(home_dir, "rules", "check")
    assert proc.returncode == 1
    said = " ".join(proc.stderr.split())
    assert "cannot read gambling.txt: it is a link to another file" in said
    assert "not-for-anyone-else" not in proc.stdout + proc.stderr
    shown = candor(home_dir, "rules", "list", "gambling")
    assert "not-for-anyone-else" not in shown.stdout + shown.stderr


def test_bad_config_is_one_clear_message(home_dir: Path) -> None:
    candor(home_dir, "rules", "list", check=True)
    (home_dir / "config.toml").write_text('[categories.adult]\naction = "blok"\n')
    proc = candor(home_dir, "rules", "test", "https://example.org/")
    # Issue 12, item 11: a broken config.toml is said in one sentence and the command still
    # answers, with the settings last applied (here none were: the defaults, said so).
    assert proc.returncode == 0 and "no rule matches" in proc.stdout
    assert "line 2" in proc.stderr and "categories.adult.action" in proc.stderr
    assert "uses the defaults" in proc.stderr
    assert "Traceback" not in proc.stderr
    check = candor(home_dir, "config", "check")
    assert check.returncode == 1 and "line 2" in check.stderr
    (home_dir / "config.toml").write_text("[categories.adult\n")
    assert "line 1" in candor(home_dir, "config", "check").stderr


def test_config_show_prints_effective_config(home_dir: Path) -> None:
    proc = candor(home_dir, "config", "show", check=True)
    assert "[categories.adult]" in proc.stdout and 'action = "block"' in proc.stdout


def test_usage_errors_exit_2(home_dir: Path) -> None:
    assert candor(home_dir, "rules", "test").returncode == 2
    assert candor(home_dir, "no-such-command").returncode == 2
