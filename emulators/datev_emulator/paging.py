"""skip/top paging with DATEV's Total-Items and Link headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TOP = 100


@dataclass(frozen=True)
class Page:
    skip: int
    top: int


def parse_paging(args: Any) -> Page | list[dict[str, str]]:
    """The page, or the affected elements for a 1008828 error."""
    errors = []
    values = {}
    for name, default in (("skip", 0), ("top", MAX_TOP)):
        raw = args.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        try:
            value = int(raw)
        except ValueError:
            value = -1
        minimum = 0 if name == "skip" else 1
        if value < minimum or not raw.strip().lstrip("+").isdigit():
            errors.append({"name": name, "reason": "Must be a positive integer"})
        values[name] = value
    if errors:
        return errors
    return Page(skip=values["skip"], top=min(values["top"], MAX_TOP))


def page_headers(page: Page, total: int) -> dict[str, str]:
    links = []
    if page.skip > 0:
        links.append(f'<?skip={max(0, page.skip - page.top)}&top={page.top}>;rel="prev"')
    if page.skip + page.top < total:
        links.append(f'<?skip={page.skip + page.top}&top={page.top}>;rel="next"')
    headers = {"Total-Items": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return headers
