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

# https://www.google.com/supported_domains: Google Search answers on google.<each of these>.
_GOOGLE_SUFFIXES = """
    com ad ae com.af com.ag al am co.ao com.ar as at com.au az ba com.bd be bf bg com.bh bi bj
    com.bn com.bo com.br bs bt co.bw by com.bz ca cd cf cg ch ci co.ck cl cm cn com.co co.cr
    com.cu cv com.cy cz de dj dk dm com.do dz com.ec ee com.eg es com.et fi com.fj fm fr ga ge
    gg com.gh com.gi gl gm gr com.gt gy com.hk hn hr ht hu co.id ie co.il im co.in iq is it je
    com.jm jo co.jp co.ke com.kh ki kg co.kr com.kw kz la com.lb li lk co.ls lt lu lv com.ly
    co.ma md me mg mk ml com.mm mn com.mt mu mv mw com.mx com.my co.mz com.na com.ng com.ni ne
    nl no com.np nr nu co.nz com.om com.pa com.pe com.pg com.ph com.pk pl pn com.pr ps pt com.py
    com.qa ro ru rw com.sa com.sb sc se com.sg sh si sk com.sl sn so sm sr st com.sv td tg co.th
    com.tj tl tm tn to com.tr tt com.tw co.tz com.ua co.ug co.uk com.uy co.uz com.vc co.ve co.vi
    com.vn vu ws rs co.za co.zm co.zw cat
"""
GOOGLE_DOMAINS = tuple(f"google.{suffix}" for suffix in _GOOGLE_SUFFIXES.split())

BING_HOSTS = ("bing.com", "www.bing.com", "cn.bing.com")
DUCKDUCKGO_HOSTS = (
    "duckduckgo.com",
    "www.duckduckgo.com",
    "html.duckduckgo.com",
    "lite.duckduckgo.com",
    "links.duckduckgo.com",
)
YOUTUBE_HOSTS = (
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
    "suggestqueries-clients6.youtube.com",
)

ENGINES: dict[str, str] = {}
for _domain in GOOGLE_DOMAINS:
    ENGINES[_domain] = ENGINES["www." + _domain] = "google"
ENGINES["suggestqueries.google.com"] = "google"
ENGINES |= dict.fromkeys(BING_HOSTS, "bing")
ENGINES |= dict.fromkeys(DUCKDUCKGO_HOSTS, "duckduckgo")
ENGINES |= dict.fromkeys(YOUTUBE_HOSTS, "youtube")
"""Exact host -> engine. Exact hosts, so that e.g. mail.google.com is never decrypted for this."""

# (parameter, strict value) each engine honours on its result pages.
_SAFE_PARAM = {"google": ("safe", "active"), "bing": ("adlt", "strict"), "duckduckgo": ("kp", "1")}

_RESULT_PATHS = {
    "google": frozenset({"/search", "/webhp", "/"}),
    "bing": frozenset({"/search", "/images/search", "/videos/search", "/news/search", "/"}),
    "duckduckgo": frozenset({"/", "/html", "/html/", "/lite", "/lite/"}),
}
# path -> query parameter holding what was typed. Paths matter: Google's `/url?q=` is a link
# target, not a search.
_TERM_PARAMS: dict[str, dict[str, str]] = {
    "google": {"/search": "q", "/webhp": "q", "/": "q", "/complete/search": "q"},
    "bing": {
        "/search": "q",
        "/images/search": "q",
        "/videos/search": "q",
        "/news/search": "q",
        "/": "q",
        "/AS/Suggestions": "qry",
        "/osjson.aspx": "query",
    },
    "duckduckgo": {
        "/": "q",
        "/html": "q",
        "/html/": "q",
        "/lite": "q",
        "/lite/": "q",
        "/ac/": "q",
        "/d.js": "q",
        "/i.js": "q",
        "/v.js": "q",
        "/news.js": "q",
    },
    "youtube": {"/results": "search_query", "/complete/search": "q"},
}


@dataclass(frozen=True, slots=True)
class Search:
    """A search seen in a request: which engine and what was typed."""

    engine: str
    terms: str


def inspect_rules() -> tuple[Rule, ...]:
    """The engine hosts the agent must decrypt, as exact-host rules for the matcher's policy."""
    return tuple(Rule(RuleKind.EXACT, host, source="safesearch") for host in sorted(ENGINES))


def hosts_to_inspect(config: Config) -> tuple[Rule, ...]:
    """The engines are decrypted only while SafeSearch or search capture has a use for it."""
    if config.safesearch.enabled or config.search_capture.enabled:
        return inspect_rules()
    return ()


def engine_for(host: str) -> str | None:
    """The engine a host belongs to, or None (exact hosts only)."""
    return ENGINES.get(host.lower().rstrip("."))


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
    param = _TERM_PARAMS.get(engine, {}).get(_path(request))
    terms = request.query.get(param) if param else None
    if not terms and request.method == "POST" and engine == "duckduckgo" and request.content:
        # html.duckduckgo.com posts its form; only available once the body has arrived.
        terms = request.urlencoded_form.get("q")
    if not terms or not terms.strip():
        return None
    return Search(engine, " ".join(terms.split()))


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
