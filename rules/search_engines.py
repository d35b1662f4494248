"""Which hosts are the search engines Candor watches, and where their requests carry what was
typed: pure tables, shared by the proxy's SafeSearch addon and `candor rules test`, which reads
the search terms of an engine's URL without the proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

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
SUGGESTION_PATHS = frozenset({"/complete/search", "/AS/Suggestions", "/osjson.aspx", "/ac/"})
"""Where a search box asks for suggestions while someone types: each letter is a request."""


@dataclass(frozen=True, slots=True)
class SearchInUrl:
    """A search read from a URL: which engine, what was typed, and whether it was typed so far."""

    engine: str
    terms: str
    suggestion: bool


def engine_for(host: str) -> str | None:
    """The engine a host belongs to, or None (exact hosts only)."""
    return ENGINES.get(host.lower().rstrip("."))


def terms_param(engine: str, path: str) -> str | None:
    """The query parameter holding what was typed on `engine`'s `path`, or None."""
    return _TERM_PARAMS.get(engine, {}).get(path)


def search_in_url(url: str) -> SearchInUrl | None:
    """The search a full engine URL carries (`https://www.google.com/search?q=...`), or None."""
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        host = parts.hostname
    except ValueError:
        return None
    engine = engine_for(host) if host else None
    path = parts.path or "/"
    param = terms_param(engine, path) if engine else None
    if engine is None or param is None:
        return None
    values = parse_qs(parts.query).get(param)
    terms = " ".join(values[0].split()) if values else ""
    if not terms:
        return None
    return SearchInUrl(engine, terms, path in SUGGESTION_PATHS)
