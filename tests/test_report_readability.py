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


def _method_titles(text: str, titles: list[str]) -> list[str]:
    """The analysis titles in the order the text first names them."""
    return sorted((t for t in titles if t in text), key=text.index)


def test_results_present_the_analyses_in_the_order_of_the_synthesis_methods(default_review: Path) -> None:
    """Results showed MD, RR, SMD (sorted by id) while the methods listed MD, SMD, RR (config order), and the
    MD section's "see the SMD analysis" pointed past the RR section. Both follow the config now, primary first."""
    md, page = _reports(default_review)
    config = load_config(default_review / "config/config.yaml")
    expected = [a["title"] for a in rep.analysis_order(config["synthesis"])]
    assert expected == [a["title"] for a in config["synthesis"]["analyses"]]  # the shipped config lists the primary first
    for text, (m, r) in ((md, ("## Synthesis methods", "## Results")), (html.unescape(page), ("<h2>Synthesis methods</h2>", "<h2>Results</h2>"))):
        methods = text[text.index(m):text.index(r)]
        results = text[text.index(r):text.index("Effect direction (SWiM)", text.index(r))]
        assert _method_titles(methods, expected) == expected
        headings = re.findall(r"^### (.+)$", results, flags=re.M) or re.findall(r"<h3>(.+?)</h3>", results)
        assert len(headings) == len(expected) and all(t in h for t, h in zip(expected, headings)), headings


def test_analysis_order_puts_the_primary_first_then_the_config_order() -> None:
    def analysis(i: str, primary: bool = False) -> dict:
        return {"id": i, "title": f"Outcome {i}", "primary": primary, "domain": "d", "measure": "MD"}

    synthesis = {"analyses": [analysis("z"), analysis("b"), analysis("m", primary=True), analysis("a")]}
    assert [a["id"] for a in rep.analysis_order(synthesis)] == ["m", "z", "b", "a"]
    methods = rep.synthesis_methods(synthesis)
    assert [next(i for i in "mzba" if m.startswith(f"Outcome {i}")) for m in methods[:4]] == ["m", "z", "b", "a"]
