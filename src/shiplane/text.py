"""Text shown to people: bidirectional controls made visible.

A right-to-left override can make a reason or a file name read backwards
("gnp.exe" shown as "exe.png"). Wherever user text is displayed (the dashboard,
Slack, commit-status descriptions) these invisible controls are replaced by a
visible escape such as ``<U+202E>``.
"""

from __future__ import annotations

import re

# LRM, RLM, ALM; the embeddings and overrides LRE..RLO; the isolates LRI..PDI.
_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def visible_bidi(text: str) -> str:
    if not text.isascii() and _BIDI.search(text):
        return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
    return text
