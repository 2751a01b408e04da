"""Open Graph metadata of an HTML page (spec: Client-Server API, "Content repository",
``GET /media/preview_url``, whose response is the page's Open Graph data).

A small parser over the standard library's ``html.parser``: every ``<meta property="og:...">``
(first value wins), with ``<title>``, ``<meta name="description">`` and the first ``<img>`` as
fallbacks for ``og:title``, ``og:description`` and ``og:image``, as Synapse does.
"""

from html.parser import HTMLParser
from urllib.parse import urljoin

# Values longer than this are cut (a page can hold anything).
MAX_VALUE_LENGTH = 1000


class _OpenGraphParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og: dict[str, str] = {}
        self.title: str | None = None
        self.description: str | None = None
        self.first_image: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v for k, v in attrs if v is not None}
        if tag == "meta":
            content = values.get("content")
            if content is None:
                return
            prop = values.get("property") or values.get("name") or ""
            if prop.startswith("og:") and prop not in self.og:
                self.og[prop] = content[:MAX_VALUE_LENGTH]
            elif prop.lower() == "description" and self.description is None:
                self.description = content[:MAX_VALUE_LENGTH]
        elif tag == "title" and self.title is None:
            self._in_title = True
        elif tag == "img" and self.first_image is None and values.get("src"):
            self.first_image = values["src"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split())[:MAX_VALUE_LENGTH]

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)


def parse_open_graph(html: str, base_url: str) -> dict[str, str]:
    """The page's Open Graph data; ``og:image`` made absolute against ``base_url``."""
    parser = _OpenGraphParser()
    parser.feed(html)
    parser.close()
    og = dict(parser.og)
    if "og:title" not in og and parser.title:
        og["og:title"] = parser.title
    if "og:description" not in og and parser.description:
        og["og:description"] = parser.description
    if "og:image" not in og and parser.first_image:
        og["og:image"] = parser.first_image
    if "og:image" in og:
        og["og:image"] = urljoin(base_url, og["og:image"])
    return og
