"""Static data the fake serves: preloaded Workers, proxy regions and synthetic result rows."""

from __future__ import annotations

import hashlib
from typing import Any, Final

# System defaults as `/api/scraper` shows them: memory in MB, execution limit in seconds, and
# 0 for "no cap" on charge and traffic.
DEFAULT_SYSTEM: Final[dict[str, Any]] = {
    "cpus": 0.125,
    "memory": 512,
    "max_total_charge": 0,
    "max_total_traffic": 0,
    "execute_limit_time_seconds": 1800,
}
MEMORY_CHOICES: Final = frozenset({512, 1024, 2048, 4096, 8192, 16384})

# The Worker input form the documentation's `/api/scraper` example shows.
GENERIC_PROPERTIES: Final[list[dict[str, Any]]] = [
    {
        "name": "startURLs",
        "type": "array",
        "title": "Start URLs",
        "editor": "requestList",
        "default": [{"url": "https://example.com/page?pg=1"}],
        "required": True,
        "description": "The URLs of the website to scrape",
    },
    {
        "name": "maximum",
        "type": "integer",
        "title": "Maximum",
        "editor": "number",
        "default": 4,
        "description": "Maximum number per page",
    },
    {
        "name": "download_images",
        "type": "boolean",
        "title": "Download Images",
        "editor": "switch",
        "default": False,
        "description": "Does the collected content include images",
    },
]

_MAPS_PROPERTIES: Final[list[dict[str, Any]]] = [
    {
        "name": "searchTerms",
        "type": "array",
        "title": "Search terms",
        "editor": "stringList",
        "default": ["coffee shop"],
        "required": True,
        "description": "What to search for on Google Maps",
    },
    {
        "name": "location",
        "type": "string",
        "title": "Location",
        "editor": "textfield",
        "default": "Berlin, Germany",
        "description": "City or area the search is limited to",
    },
    {
        "name": "maxPlaces",
        "type": "integer",
        "title": "Max places per search",
        "editor": "number",
        "default": 20,
        "description": "Stop after this many places for each search term",
    },
    {
        "name": "includeReviews",
        "type": "boolean",
        "title": "Include reviews",
        "editor": "switch",
        "default": False,
        "description": "Also collect the most recent reviews of each place",
    },
]

_ASIN_PROPERTIES: Final[list[dict[str, Any]]] = [
    {
        "name": "asins",
        "type": "array",
        "title": "ASINs",
        "editor": "stringList",
        "default": ["B0BSHF7WHW"],
        "required": True,
        "description": "Amazon product identifiers",
    },
    {
        "name": "marketplace",
        "type": "string",
        "title": "Marketplace",
        "editor": "select",
        "default": "amazon.com",
        "description": "Amazon domain to query",
    },
]

# (slug, title, description, versions newest first, readme, properties)
PRELOADED_WORKERS: Final[tuple[tuple[str, str, str, tuple[str, ...], str, list[dict[str, Any]]], ...]] = (
    (
        "coreclaw/google-maps-scraper",
        "Google Maps Scraper",
        "Extract places, ratings, reviews and contact details from Google Maps search results.",
        ("v1.0.5", "v1.0.4", "v1.0.3"),
        "# Google Maps Scraper\n\nSearch Google Maps and collect every place found.",
        _MAPS_PROPERTIES,
    ),
    (
        "01KJXYJ7KCHXM0PDZHQD5293XE",
        "News Scraper",
        "Collect article titles, publish times and categories from news sites.",
        ("v1.0.1", "v1.0.0"),
        "# Worker README\n\nThis is the Worker description.",
        GENERIC_PROPERTIES,
    ),
    (
        "01KBHMS6A8H6A3K5FJY11MQ99Z",
        "Amazon Product By ASIN",
        "Extract product metadata such as seller, brand, pricing, ASIN, and reviews from "
        "Amazon product pages.",
        ("v1.2.0",),
        "# Amazon Product By ASIN\n\nOne product page per ASIN.",
        _ASIN_PROPERTIES,
    ),
    (
        "01KBHT00QRRZYZJQJ8P1R682VC",
        "Amazon Product List By Keywords",
        "Search Amazon by keywords and return structured product listing results.",
        ("v1.1.3",),
        "# Amazon Product List By Keywords\n\nOne listing page per keyword.",
        GENERIC_PROPERTIES,
    ),
)

# ISO-3166 alpha-2 codes the backend documents as accepted for `proxy_region` (default US).
_ACCEPTED_REGION_CODES: Final = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC
    EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB
    LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS
    RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL
    TM TN TO TR TT TV TW TZ UA UG US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
"""
ACCEPTED_REGIONS: Final = frozenset(_ACCEPTED_REGION_CODES.split())

# What `/api/proxy/region` lists (a representative subset with names).
PROXY_REGIONS: Final[tuple[tuple[str, str], ...]] = (
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("JP", "Japan"),
    ("CA", "Canada"),
    ("AU", "Australia"),
    ("NL", "Netherlands"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("PL", "Poland"),
    ("BR", "Brazil"),
    ("MX", "Mexico"),
    ("AR", "Argentina"),
    ("IN", "India"),
    ("SG", "Singapore"),
    ("HK", "Hong Kong"),
    ("KR", "South Korea"),
    ("TW", "Taiwan"),
    ("ID", "Indonesia"),
    ("TH", "Thailand"),
    ("VN", "Vietnam"),
    ("PH", "Philippines"),
    ("AE", "United Arab Emirates"),
    ("TR", "Turkey"),
    ("ZA", "South Africa"),
    ("IE", "Ireland"),
    ("NZ", "New Zealand"),
)

# The same regions named in Chinese (v2 ``/proxy/region?language=zh``).
PROXY_REGION_NAMES_ZH: Final[dict[str, str]] = {
    "US": "美国",
    "GB": "英国",
    "DE": "德国",
    "FR": "法国",
    "JP": "日本",
    "CA": "加拿大",
    "AU": "澳大利亚",
    "NL": "荷兰",
    "ES": "西班牙",
    "IT": "意大利",
    "SE": "瑞典",
    "CH": "瑞士",
    "PL": "波兰",
    "BR": "巴西",
    "MX": "墨西哥",
    "AR": "阿根廷",
    "IN": "印度",
    "SG": "新加坡",
    "HK": "中国香港",
    "KR": "韩国",
    "TW": "中国台湾",
    "ID": "印度尼西亚",
    "TH": "泰国",
    "VN": "越南",
    "PH": "菲律宾",
    "AE": "阿联酋",
    "TR": "土耳其",
    "ZA": "南非",
    "IE": "爱尔兰",
    "NZ": "新西兰",
}

# Column definitions of every synthetic result set; the row id key is internal and not a column.
ROW_ID_KEY: Final = "__coreclaw_data_id__"
RESULT_HEADERS: Final[list[dict[str, str]]] = [
    {"label": "title", "key": "title", "format": "text"},
    {"label": "url", "key": "url", "format": "text"},
    {"label": "rating", "key": "rating", "format": "number"},
    {"label": "reviews", "key": "reviews", "format": "number"},
    {"label": "address", "key": "address", "format": "text"},
    {"label": "category", "key": "category", "format": "text"},
]
RESULT_KEYS: Final[tuple[str, ...]] = tuple(header["key"] for header in RESULT_HEADERS)

_CATEGORIES: Final = ("Coffee shop", "Bakery", "Restaurant", "Café & bar", "Book store")
_STREETS: Final = ("Main Street", "Oak Avenue", "Königstraße", "Rue de Rivoli", "High Street")


def result_row(run_slug: str, index: int) -> dict[str, Any]:
    """Return row ``index`` (0-based) of a run: the same slug and index always give the same row.

    Values deliberately include non-ASCII text, commas and double quotes so CSV and JSON
    handling are exercised.
    """
    digest = hashlib.sha256(f"{run_slug}:{index}".encode()).digest()
    number = index + 1
    title = f"Example Place {number}"
    if number % 7 == 0:
        title = f"Café Nº{number}"
    elif number % 11 == 0:
        title = f'"The Best" Diner {number}'
    return {
        ROW_ID_KEY: digest.hex(),
        "title": title,
        "url": f"https://example.com/places/{run_slug.lower()}/{number}",
        "rating": round(3.0 + digest[0] % 21 / 10, 1),
        "reviews": int.from_bytes(digest[1:3], "big"),
        "address": f"{digest[3] % 200 + 1} {_STREETS[digest[4] % len(_STREETS)]}, Springfield",
        "category": _CATEGORIES[digest[5] % len(_CATEGORIES)],
    }
