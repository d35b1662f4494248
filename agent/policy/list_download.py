"""Fetch one public list over HTTP(S) into a file: the one download path for lists.

`candor rules import URL` and a subscription's refresh (`agent.policy.subscriptions`, in the
agent and in `candor lists`) both come here. A download follows redirects only from https to
https on the same host and port or to GitHub's and GitLab's file hosts, at most
`MAX_REDIRECTS` times; refuses an answer larger than the caller's cap or an HTML page; may ask
with `If-None-Match` / `If-Modified-Since`; ends after a total deadline however slowly the
server trickles (`agent.config.exchange_deadline`); and streams the body to the caller's file.
Every refusal is a `DownloadFailed` whose message is one sentence ending with what the caller
says happens next (`then`: "so nothing was imported", "so the last good copy stays in force").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from agent.config.exchange_deadline import ExchangeDeadline, seconds_words

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5
REDIRECT_HOSTS = frozenset(
    {
        "raw.githubusercontent.com",
        "objects.githubusercontent.com",
        "release-assets.githubusercontent.com",
        "codeload.github.com",
        "gitlab.com",
    }
)
"""Where a list download may be redirected besides its own host: where GitHub and GitLab
serve files, on the usual https port."""
READ_TIMEOUT = 30.0
"""Seconds one connect or read may wait (the deadline bounds the whole exchange)."""

Progress = Callable[[int, int | None], None]
"""Called with (bytes done, bytes total or None) while downloading."""


class DownloadFailed(Exception):
    """A list download that produced nothing usable; the message says why in one sentence."""


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said identifies its copy, for a polite "not modified" next time."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        """The conditional request headers these validators make (none when both are unset)."""
        asked = {}
        if self.etag:
            asked["If-None-Match"] = self.etag
        if self.last_modified:
            asked["If-Modified-Since"] = self.last_modified
        return asked


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one download may take: bytes, total seconds, and what a refusal leaves."""

    size: int
    deadline: float
    then: str
    """The end of every refusal's sentence: what the caller keeps ("so nothing was imported")."""


def download(
    url: str,
    target: Path,
    limits: Limits,
    *,
    ask: Validators | None = None,
    progress: Progress | None = None,
) -> Validators | None:
    """GET `url` into `target`; the answer's validators, or None when the server says "not
    modified" to the conditional request `ask` makes. Raises `DownloadFailed`."""
    import httpx  # loaded when first used: the agent starts sooner without it

    clock = ExchangeDeadline(limits.deadline)
    exchange = _Exchange(url, target, limits, clock, progress)
    timeout = min(READ_TIMEOUT, limits.deadline)
    try:
        with clock, httpx.Client(timeout=timeout, follow_redirects=False) as client:
            return exchange.run(client, (ask or Validators()).headers())
    except httpx.HTTPError as exc:
        if clock.expired or isinstance(exc, httpx.TimeoutException):
            late = "finish" if exchange.answered else "answer"
            raise exchange.failed(
                f"the server did not {late} within {seconds_words(limits.deadline)}"
            ) from None
        raise exchange.failed(str(exc)) from None


def redirect_allowed(current: str, target: str, hosts: frozenset[str] = REDIRECT_HOSTS) -> bool:
    """Whether a list download may follow a redirect from `current` to `target`: https to https
    only, to the same host and port, or to a listed host (`REDIRECT_HOSTS`) on port 443."""
    here, there = urlsplit(current), urlsplit(target)
    if here.scheme != "https" or there.scheme != "https" or "@" in there.netloc:
        return False
    try:
        here_port, there_port = here.port or 443, there.port or 443
    except ValueError:
        return False
    host = (there.hostname or "").lower()
    same = host == (here.hostname or "").lower() and there_port == here_port
    return same or (host in hosts and there_port == 443)


class _Exchange:
    """One download's redirects and body, and whether the server has answered yet."""

    def __init__(
        self,
        url: str,
        target: Path,
        limits: Limits,
        clock: ExchangeDeadline,
        progress: Progress | None,
    ) -> None:
        self.url = url
        self.target = target
        self.limits = limits
        self.clock = clock
        self.progress = progress
        self.answered = False
        """A response head came: a deadline passing now cut the body short."""

    def failed(self, why: str) -> DownloadFailed:
        """The refusal's sentence: what went wrong, then what the caller keeps."""
        return DownloadFailed(f"Cannot download {self.url}: {why}, {self.limits.then}.")

    def run(self, client: httpx.Client, headers: dict[str, str]) -> Validators | None:
        """Follow the allowed redirects to the list and save it."""
        current = self.url
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream(
                "GET", current, headers=headers, extensions=self.clock.httpx_extensions()
            ) as response:
                self.answered = True
                if response.status_code == 304 and headers:
                    return None
                if response.is_redirect:
                    current = self._follow(current, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise self.failed(
                        f"the server answered {response.status_code} {response.reason_phrase}"
                    )
                self._save(response)
                return Validators(
                    response.headers.get("etag"), response.headers.get("last-modified")
                )
        raise self.failed(f"it redirects more than {MAX_REDIRECTS} times")

    def _follow(self, current: str, location: str) -> str:
        following = urljoin(current, location)
        if not redirect_allowed(current, following):
            raise self.failed(
                f"it sends Candor on to {_origin(following)}, and a list download follows only "
                "https to https on the same host (or to GitHub's and GitLab's file hosts); use "
                "the final address instead"
            )
        self.answered = False
        return following

    def _save(self, response: httpx.Response) -> None:
        """Write the body to the target as it comes, within the size cap and the deadline."""
        import httpx

        total = response.headers.get("content-length", "")
        known = int(total) if total.isdigit() else None
        if known is not None and known > self.limits.size:
            raise self._too_big()
        if "html" in response.headers.get("content-type", "").lower():
            raise self._a_page()
        done = 0
        with self.target.open("wb") as out:
            for chunk in response.iter_bytes(1 << 16):
                if done == 0 and chunk.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
                    raise self._a_page()
                done += len(chunk)
                if done > self.limits.size:
                    raise self._too_big()
                if self.clock.expired:
                    raise httpx.ReadTimeout("the deadline passed")
                out.write(chunk)
                if self.progress:
                    self.progress(done, known)

    def _too_big(self) -> DownloadFailed:
        return self.failed(
            f"it is larger than {self.limits.size // (1024 * 1024)} MB, which no list should be"
        )

    def _a_page(self) -> DownloadFailed:
        return self.failed("the server sent a web page, not a list")


def _origin(url: str) -> str:
    """Scheme, host and port of `url`, for a message (no path, query or password)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"
