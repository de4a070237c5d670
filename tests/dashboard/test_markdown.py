"""Names from people's folders are shown as they are: a glob's ``*`` or a ``$`` is not Markdown."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from app_streamlit.common import escape_md


@pytest.mark.parametrize(
    "text",
    ["Build thesis/*.tex with latexmk on save", "Move *_draft_*.md to archive/", "costs $5 and $6", "a:smile: [x](y)"],
)
def test_escaped_text_renders_as_itself(text):
    html = MarkdownIt("commonmark").render(escape_md(text))
    assert html == f"<p>{text}</p>\n"  # no <em>, no link; the characters themselves
