"""The page's languages and how the first one is chosen.

The UI's text lives in one place: the JSON catalogues in ``static/i18n/`` (``en.json``,
``ko.json``, the same keys), read by the page's JavaScript; dates, numbers and money are
formatted by the browser's ``Intl`` for the chosen language. The backend only picks the
language a first visit starts in, from the ``Accept-Language`` header (RFC 9110 §12.5.4);
the person can switch, and the page remembers the choice in the browser.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("en", "ko")
DEFAULT: Final = "en"
MAX_HEADER: Final = 1000  # characters of Accept-Language considered


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def negotiate(accept_language: str | None) -> str:
    """The supported language the header prefers most (``ko-KR,ko;q=0.9,en;q=0.8`` →
    ``ko``); ``*`` or nothing supported → ``en``. Ties keep the header's order."""
    best, best_q = DEFAULT, 0.0
    for item in (accept_language or "")[:MAX_HEADER].split(","):
        tag, *params = item.split(";")
        primary = tag.strip().lower().split("-", 1)[0]
        q = _quality(params)
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best
