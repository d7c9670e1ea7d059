"""Bidirectional controls are shown, never obeyed, wherever user text is displayed."""

import pytest

from shiplane.notify.messages import escape
from shiplane.text import visible_bidi
from shiplane.web.render import environment


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("gnp\u202eexe.png", "gnp<U+202E>exe.png"),  # right-to-left override
        ("a\u2066b\u2069c", "a<U+2066>b<U+2069>c"),  # isolates
        ("\u200fmark", "<U+200F>mark"),
        ("plain ascii", "plain ascii"),
        ("日本語 ok", "日本語 ok"),  # other non-ASCII text is untouched
    ],
)
def test_it_makes_bidi_controls_visible(text, shown):
    assert visible_bidi(text) == shown


def test_the_dashboard_shows_them_escaped():
    html = environment().from_string("<p>{{ reason }}</p>").render(reason="deploy gnp\u202eexe.png")
    assert html == "<p>deploy gnp&lt;U+202E&gt;exe.png</p>"


def test_slack_shows_them_escaped():
    assert escape("gnp\u202eexe.png") == "gnp&lt;U+202E&gt;exe.png"


def test_commit_status_descriptions_show_them_escaped():
    from shiplane.enforcement.statuses import truncate

    assert truncate("Production locked: gnp\u202eexe.png (dana)") == "Production locked: gnp<U+202E>exe.png (dana)"
