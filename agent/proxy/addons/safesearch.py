"""SafeSearch on the big search engines, and the search terms people type into them.

Engines filter explicit results themselves when asked: Google with `safe=active`, Bing with
`adlt=strict`, DuckDuckGo with `kp=1`, YouTube with the `YouTube-Restrict: Strict` header. That
needs the engine's traffic decrypted, so its hosts are handed to the matcher as hosts to inspect;
nothing else on those companies' domains (mail, documents, accounts) is touched.

Search terms are read from the same requests (result pages and the suggestion endpoints a search
box calls while someone types) so category keywords can act on what was searched, not only on
where it was searched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mitmproxy import http

from agent.config import Config
from agent.proxy.filter_settings import FilterSettings
from agent.proxy.names import request_host
from rules.model import Rule, RuleKind
from rules.search_engines import (
    BING_HOSTS,
    DUCKDUCKGO_HOSTS,
    ENGINES,
    GOOGLE_DOMAINS,
    SUGGESTION_PATHS,
    YOUTUBE_HOSTS,
    engine_for,
    terms_param,
)

__all__ = [
    "BING_HOSTS",
    "DUCKDUCKGO_HOSTS",
    "ENGINES",
    "GOOGLE_DOMAINS",
    "YOUTUBE_HOSTS",
    "SafeSearch",
    "Search",
    "enforce",
    "engine_for",
    "hosts_to_inspect",
    "inspect_rules",
    "safe_name",
    "search_of",
]

# (parameter, strict value) each engine honours on its result pages.
_SAFE_PARAM = {"google": ("safe", "active"), "bing": ("adlt", "strict"), "duckduckgo": ("kp", "1")}

_RESULT_PATHS = {
    "google": frozenset({"/search", "/webhp", "/"}),
    "bing": frozenset({"/search", "/images/search", "/videos/search", "/news/search", "/"}),
    "duckduckgo": frozenset({"/", "/html", "/html/", "/lite", "/lite/"}),
}


@dataclass(frozen=True, slots=True)
class Search:
    """A search seen in a request: which engine and what was typed."""

    engine: str
    terms: str
    suggestion: bool = False
    """Asked for while typing (a suggestion endpoint), not a page of results."""


def inspect_rules() -> tuple[Rule, ...]:
    """The engine hosts the agent must decrypt, as exact-host rules for the matcher's policy."""
    return tuple(Rule(RuleKind.EXACT, host, source="safesearch") for host in sorted(ENGINES))


def hosts_to_inspect(config: Config) -> tuple[Rule, ...]:
    """The engines are decrypted only while SafeSearch or search capture has a use for it."""
    if config.safesearch.enabled or config.search_capture.enabled:
        return inspect_rules()
    return ()


SAFE_NAMES = {
    "google": "forcesafesearch.google.com",
    "bing": "strict.bing.com",
    "duckduckgo": "safe.duckduckgo.com",
    "youtube": "restrict.youtube.com",
}
"""Each engine's documented name for SafeSearch by DNS: its hosts are answered as a CNAME to it."""


def safe_name(host: str) -> str | None:
    """The name an engine host is answered with by DNS while SafeSearch is on, or None."""
    engine = engine_for(host)
    return SAFE_NAMES[engine] if engine is not None else None


def enforce(request: http.Request, engine: str) -> bool:
    """Ask `engine` for its strict filtering on this request; True if the request was changed.

    The strict value replaces whatever the request carried (`safe=off`, `kp=-2`), so turning
    SafeSearch off in the engine's settings page does not undo it. Only result pages get the
    parameter: adding it to every asset request would only defeat caching.
    """
    if engine == "youtube":
        if request.headers.get("YouTube-Restrict") == "Strict":
            return False
        request.headers["YouTube-Restrict"] = "Strict"
        return True
    if _path(request) not in _RESULT_PATHS[engine]:
        return False
    param, value = _SAFE_PARAM[engine]
    if engine != "bing" and _path(request) == "/" and "q" not in request.query:
        return False  # the engine's home page
    if request.query.get_all(param) == [value]:
        return False
    request.query[param] = value
    return True


def search_of(request: http.Request, engine: str) -> Search | None:
    """The terms of a result page or suggestion request, or None for anything else."""
    param = terms_param(engine, _path(request))
    terms = request.query.get(param) if param else None
    if not terms and request.method == "POST" and engine == "duckduckgo" and request.content:
        # html.duckduckgo.com posts its form; only available once the body has arrived.
        terms = request.urlencoded_form.get("q")
    if not terms or not terms.strip():
        return None
    return Search(engine, " ".join(terms.split()), _path(request) in SUGGESTION_PATHS)


def _path(request: http.Request) -> str:
    return request.path.split("?", 1)[0]


class SafeSearch:
    """mitmproxy addon: asks each engine for its strict filtering on every request that goes
    through (after the request filter, so a page Candor serves instead is left alone)."""

    def __init__(self, settings: Callable[[], FilterSettings] = FilterSettings) -> None:
        self._settings = settings

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or not flow.live:
            return
        engine = engine_for(request_host(flow.request))
        if engine is not None and self._settings().safesearch:
            enforce(flow.request, engine)
