"""The report reads well: plain characters in report.md, one order of analyses, nouns and labels in its prose."""

from __future__ import annotations

import html
import re
from pathlib import Path

from livingreview import report as rep
from livingreview.config import load_config


def _reports(review: Path) -> tuple[str, str]:
    md = (review / "results/report/report.md").read_text(encoding="utf-8")
    page = (review / "results/report/index.html").read_text(encoding="utf-8")
    return md, page


def test_md_escape_keeps_plain_characters_and_escapes_only_what_could_become_html() -> None:
    """report.md showed "&gt;=", "&amp;" and "&lt;" (md_escape wrote HTML entities); now plain text stays
    plain, and only a "<" that could open raw HTML or an autolink, an "&" that could start an entity and a
    leading ">" are backslash-escaped (CommonMark: the literal character)."""
    plain = "PTSD response (>= 30% reduction) & relapse; k = 2 < 3; p<0.05; <= 4; a -> b"
    assert rep.md_escape(plain) == plain
    assert rep.md_escape('<script>alert("x")</script> & <b>bold</b> < 3') == '\\<script>alert("x")\\</script> & \\<b>bold\\</b> < 3'
    assert rep.md_escape("<!-- c --> <?x ?> <http://a.b> <1a@b.co>") == "\\<!-- c --> \\<?x ?> \\<http://a.b> \\<1a@b.co>"
    assert rep.md_escape("&amp; &#60; &#x3C; &copy; AT&T") == "\\&amp; \\&#60; \\&#x3C; \\&copy; AT&T"
    assert rep.md_escape("> not a quote") == "\\> not a quote"
    assert rep.md_escape("a \\<b> c") == "a \\\\\\<b> c"  # the backslash itself escaped, then the "<"


def test_default_report_md_has_plain_characters_and_index_html_stays_escaped(default_review: Path) -> None:
    md, page = _reports(default_review)
    config = load_config(default_review / "config/config.yaml")
    titles = [a["title"] for a in config["synthesis"]["analyses"]]
    assert any(set(t) & set("<>&") for t in titles), "the shipped config has a title to check this with"
    assert not re.search(r"&(?:[A-Za-z]+|#[0-9]+|#x[0-9A-Fa-f]+);", md), re.findall(r".{30}&[#A-Za-z0-9]+;.{10}", md)[:3]
    for title in titles:
        assert f"{title}" in md and html.escape(title, quote=False) in page
    # code text of the methods, with "&" and "<"
    assert "Knapp & Hartung 2003" in md and "Knapp &amp; Hartung 2003" in page
    assert "Funnel plot: not drawn (k = 2 < 3:" in md and "Funnel plot: not drawn (k = 2 &lt; 3:" in page
