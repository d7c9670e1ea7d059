"""SVG assembly for the dashboard charts: escaped elements, the root, layout helpers.

Every string is escaped here, and characters XML 1.0 forbids are dropped, so
a caller can pass user text (titles, units) straight in. Attributes are
presentation attributes, never ``style=``: the dashboard's
Content-Security-Policy (``style-src 'self'``) blocks those. The charts that use
these: ``shiplane.web.charts``.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
# Characters XML 1.0 forbids even when escaped; a title with one would make the page unparsable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _num(x: float) -> str:
    s = f"{x:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def element(tag: str, text: str | None = None, /, **attrs: object) -> str:
    """One element. Attribute names: trailing _ dropped, other _ become - (class_, stroke_width)."""
    parts = [f"<{tag}"]
    for key, value in attrs.items():
        if value is not None:
            shown = _num(value) if isinstance(value, float) else _clean(str(value))
            parts.append(f" {key.rstrip('_').replace('_', '-')}={quoteattr(shown)}")
    if text is None:
        return "".join(parts) + "/>"
    return "".join(parts) + f">{escape(_clean(text))}</{tag}>"


def with_tooltip(tag: str, tooltip: str, /, **attrs: object) -> str:
    """An element with a ``<title>`` child: the browser shows it as a tooltip on hover."""
    return element(tag, **attrs)[:-2] + ">" + element("title", tooltip) + f"</{tag}>"


def document(kind: str, width: int, height: int, title: str, desc: str, body: list[str], **attrs: object) -> str:
    root = element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width="100%",
        preserveAspectRatio="xMidYMid meet",
        role="img",
        class_=f"chart {kind}",
        font_family=FONT,
        font_size=11,
        fill="currentColor",
        **attrs,
    )[:-2]
    head = [root + ">", element("title", title or "chart"), element("desc", desc)]
    return "".join(head + body) + "</svg>"


def text_width(text: str, size: float = 11) -> float:
    return len(text) * size * 0.6  # rough, but deterministic and good enough for layout


def fit(text: str, width: float, size: float = 11) -> str:
    room = max(int(width / (size * 0.6)), 1)
    return text if len(text) <= room else text[: room - 1] + "…"


def no_data_chart(kind: str, width: int, height: int, title: str, desc: str, show_title: bool, **attrs: object) -> str:
    body = [element("rect", class_="plot", x=1, y=1, width=width - 2, height=height - 2, fill="none",
                    stroke="currentColor", stroke_opacity="0.2")]
    if show_title:
        body.append(element("text", fit(title, width - 8), class_="title", x=4, y=14, font_weight=600))
    body.append(element("text", "no data", class_="no-data", x=width / 2, y=height / 2 + 4,
                        text_anchor="middle", fill_opacity="0.6"))
    return document(kind, width, height, title, desc, body, **attrs)


def data_line(points: list[tuple[float, float]], cls: str, colour: str, **style: object) -> str:
    if len(points) == 1:
        (x, y), = points
        return element("circle", class_=cls, cx=x, cy=y, r=2.5, fill=colour)
    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return element("polyline", class_=cls, points=coords, fill="none", stroke=colour,
                   stroke_linejoin="round", **style)


def check_size(width: int, height: int, min_width: int, min_height: int) -> None:
    if width < min_width or height < min_height:
        raise ValueError(f"a chart this small is unreadable: {width}×{height} (minimum {min_width}×{min_height})")

