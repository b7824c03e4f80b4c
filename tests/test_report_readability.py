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
    leading ">" (md_escape for text that starts a line; md_inline leaves it) are backslash-escaped
    (CommonMark: the literal character)."""
    plain = "PTSD response (>= 30% reduction) & relapse; k = 2 < 3; p<0.05; <= 4; a -> b"
    assert rep.md_escape(plain) == plain
    assert rep.md_escape('<script>alert("x")</script> & <b>bold</b> < 3') == '\\<script>alert("x")\\</script> & \\<b>bold\\</b> < 3'
    assert rep.md_escape("<!-- c --> <?x ?> <http://a.b> <1a@b.co>") == "\\<!-- c --> \\<?x ?> \\<http://a.b> \\<1a@b.co>"
    assert rep.md_escape("&amp; &#60; &#x3C; &copy; AT&T") == "\\&amp; \\&#60; \\&#x3C; \\&copy; AT&T"
    assert rep.md_escape("> not a quote") == "\\> not a quote" and rep.md_inline("> not a quote") == "> not a quote"
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


def test_a_mean_difference_on_several_scales_names_the_noun_and_points_only_to_an_analysis_that_exists() -> None:
    """'the 2 studies used 2 (...)' lacked its noun; 'see the SMD analysis' was said with no SMD analysis configured."""
    from types import SimpleNamespace

    from livingreview.meta import not_pooled_reason

    two = [SimpleNamespace(study="A", scale="IES-R"), SimpleNamespace(study="B", scale="CAPS-5")]
    assert not_pooled_reason({"measure": "MD"}, two, min_k=2, smd_analysis=True) == (
        "a mean difference needs one scale, the 2 studies used 2 scales (A: IES-R; B: CAPS-5); see the standardized mean difference analysis")
    assert not_pooled_reason({"measure": "MD"}, two, min_k=2) == (
        "a mean difference needs one scale, the 2 studies used 2 scales (A: IES-R; B: CAPS-5); a standardized mean difference could compare them")


def test_default_report_headings_and_sentences_read_as_prose(default_review: Path) -> None:
    """The primary analysis's heading read '... (mean difference) (primary analysis)' and the methods the same;
    the unpooled reason lacked 'scales'; subgroup columns were named as in studies.tsv ('comparator_type')."""
    import json

    md, page = _reports(default_review)
    config = load_config(default_review / "config/config.yaml")
    (primary,) = [a for a in config["synthesis"]["analyses"] if a.get("primary")]
    summary = json.loads((default_review / f"results/synthesis/{primary['id']}.json").read_text(encoding="utf-8"))
    title = primary["title"]
    assert f"\n### Primary analysis: {title}\n" in md and f"<h3>Primary analysis: {html.escape(title, quote=False)}</h3>" in page
    assert f"- {title}, the primary analysis: " in md and f"<li>{html.escape(title, quote=False)}, the primary analysis: " in page
    assert not re.search(r"\) \(primary analysis\)", md + page)
    # the shipped primary MD is not pooled: its studies used two scales, and the config has an SMD analysis of its domain
    assert re.fullmatch(r"a mean difference needs one scale, the 2 studies used 2 scales \(\w+: [^;]+; \w+: [^)]+\); "
                        r"see the standardized mean difference analysis", summary["reason"]), summary["reason"]
    assert any(a["measure"] == "SMD" and a["domain"] == primary["domain"] for a in config["synthesis"]["analyses"])
    assert f"Not pooled: {summary['reason']}." in md and f"Not pooled: {html.escape(summary['reason'], quote=False)}." in page
    # subgroup columns in words, in the methods and in each unpooled analysis
    labels = ", ".join(summary["subgroups"][c]["label"] for c in sorted(primary["subgroups"]))
    assert labels == "active or inactive comparator, dose, single or repeated infusions"  # the built-in labels of the shipped columns
    for text in (md, html.unescape(page)):
        assert f"subgroup analyses by {labels} with a test" in text
        assert set(re.findall(r"Subgroups by ([^:]+): not run", text)) == {labels}
        assert not [c for c in primary["subgroups"] if "_" in c and c in text]  # comparator_type: never shown as such


def test_subgroup_labels_come_from_the_config_then_the_built_in_map() -> None:
    from livingreview.constants import SUBGROUP_LABELS, column_label

    assert column_label("comparator_type") == SUBGROUP_LABELS["comparator_type"] == "active or inactive comparator"
    assert column_label("comparator_type", {"comparator_type": "type of control"}) == "type of control"
    assert column_label("route_of_delivery") == "route of delivery"  # a column the map does not know: no underscore
    synthesis = {"subgroup_labels": {"design": "trial design"},
                 "analyses": [{"id": "a", "title": "A", "primary": True, "domain": "d", "measure": "MD", "subgroups": ["design", "crossover"]}]}
    (heterogeneity,) = [m for m in rep.synthesis_methods(synthesis) if m.startswith("Heterogeneity")]
    assert "subgroup analyses by crossover or parallel design, trial design with a test" in heterogeneity


def test_a_configured_subgroup_label_reaches_the_analysis_json_its_reasons_the_report_and_the_forest_plot(tmp_path: Path) -> None:
    from livingreview.effects import Effect
    from livingreview.meta import analyse
    from livingreview.plots import forest_plot
    from test_meta_edge import make_study

    eff = [Effect(s, "x", "MD", y, v, "", scale="S") for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1))]
    studies = [make_study("A", 2019, "single"), make_study("B", 2015, "repeated"), make_study("C", 2020, ""), make_study("D", 2018, "repeated")]
    analysis = {"id": "x", "title": "X", "domain": "d", "measure": "MD", "method": "REML", "subgroups": ["infusions", "comparator_type"]}
    out = analyse(analysis, eff, studies, subgroup_labels={"infusions": "number of sessions"})
    assert out["subgroups"]["infusions"]["label"] == "number of sessions"
    assert out["subgroups"]["infusions"]["not_in_test"]["why"] == "k = 1 study with no number of sessions reported is not in the test"
    assert out["subgroups"]["comparator_type"] == {"run": False, "label": "active or inactive comparator", "reason": "all studies in one subgroup (active)"}
    words = rep.analysis_context(out, {})["subgroups"]
    assert words[0] == "Subgroups by active or inactive comparator: not run (all studies in one subgroup (active))."
    assert words[1].startswith("Subgroups by number of sessions: repeated ") and "number of sessions not reported " in words[1]
    forest_plot(out, tmp_path / "f.svg", subgroup="infusions")
    svg = (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert ">number of sessions not reported (not in the test)</text>" in svg and "Test for subgroup differences (number of sessions)" in svg
    assert "infusions" not in svg


def test_effect_direction_rows_keep_the_scale_unit_for_the_table_and_the_short_key_for_the_plot() -> None:
    """effect_direction grouped and showed `scale.split(" (")[0]`, so 'duration of response (days)' lost its unit
    in the report's table, beside a summary of numbers in days."""
    from livingreview.effects import effect_direction
    from test_effects import row, study

    def one(*rows):
        [out] = effect_direction([study()], list(rows), domains=["d"])
        return out["scale"], out["scale_text"]

    days = dict(domain="d", statistic_kind="mean_sd", mean_intervention=34.0, sd_intervention=19.0, mean_control=16.0, sd_control=11.0)
    assert one(row(scale="duration of response (days)", **days)) == ("duration of response", "duration of response (days)")
    assert one(row(scale="IES-R", domain="d")) == ("IES-R", "IES-R")
    # one group: a bare name and the same name with its definition -> the definition; two qualifiers -> both
    assert one(row(scale="X response", domain="d"), row(outcome_id="S1#2", scale="X response (>=30% reduction)", domain="d")) == (
        "X response", "X response (>=30% reduction)")
    assert one(row(scale="Y (total)", domain="d"), row(outcome_id="S1#2", scale="Y (self-rated)", domain="d")) == ("Y", "Y (total); Y (self-rated)")


def test_default_effect_direction_table_shows_each_scale_as_extracted(default_review: Path) -> None:
    from livingreview.tables import read_tsv

    md, page = _reports(default_review)
    rows = read_tsv(default_review / "results/synthesis/effect_direction.tsv")
    outcomes = {r["outcome_id"]: r for r in read_tsv(default_review / "resources/extraction/outcomes.tsv")}
    svg = (default_review / "results/synthesis/effect_direction.svg").read_text(encoding="utf-8")
    table = md[md.index("| Study | N | Domain | Scale |"):].split("\n\n")[0].splitlines()[2:]
    assert len(table) == len(rows)
    widened = 0
    for line, r in zip(table, rows):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[0] == r["study_id"] and cells[3] == rep.md_inline(r["scale_text"]), (cells, r)
        assert f"<td>{html.escape(r['scale_text'], quote=False)}</td>" in page
        for oid in filter(None, r["outcome_ids"].split("; ")):
            scale = outcomes[oid]["scale"]  # every extracted scale text of the row is in what the table shows, or is its bare key
            assert scale in r["scale_text"] or scale == r["scale"], (oid, scale, r["scale_text"])
        if r["scale_text"] != r["scale"]:
            widened += 1
            # the plot keeps the short key: it shows no number for a unit to qualify, and its cells are 26 characters wide
            assert r["scale"] in html.unescape(svg) and r["scale_text"] not in html.unescape(svg)
    assert widened >= 1 and any("(days)" in r["scale_text"] for r in rows)  # Pradhan 2018's duration of response, in days


def test_a_direction_without_numbers_is_summarised_in_the_words_of_the_direction_column() -> None:
    """The summary said 'direction reported (intervention), no numbers' beside a Direction cell 'favours ketamine'."""
    from livingreview.constants import direction_words
    from livingreview.effects import effect_direction
    from test_effects import row, study

    for favours in ("intervention", "control", "none", "mixed", "unclear", ""):
        r = row(domain="d", statistic_kind="direction_only", favours=favours)
        [out] = effect_direction([study()], [r], domains=["d"], intervention="yoga")
        assert out["summary"] == f"{direction_words(favours or 'unclear', 'yoga')}, no numbers"
    assert effect_direction([study()], [row(domain="d", statistic_kind="direction_only", favours="intervention")], domains=["d"],
                            intervention="yoga")[0]["summary"] == "favours yoga, no numbers"


def test_default_effect_direction_summary_and_direction_say_the_same_words(default_review: Path) -> None:
    md, page = _reports(default_review)
    config = load_config(default_review / "config/config.yaml")
    label = config["synthesis"]["intervention_label"]
    table = md[md.index("| Study | N | Domain | Scale |"):].split("\n\n")[0].splitlines()[2:]
    no_numbers = [[c.strip() for c in line.strip("|").split(" | ")] for line in table if line.rstrip(" |").endswith(", no numbers")]
    assert any(cells[5] == f"favours {label}" for cells in no_numbers)  # the shipped review has one (Abdallah2022)
    for cells in no_numbers:
        assert cells[7] == f"{cells[5]}, no numbers", cells
    for text in (md, page):
        assert "direction reported (" not in text
    assert f"<td>favours {label}</td><td>yes</td><td>favours {label}, no numbers</td>" in page


def _nested_parentheses(text: str) -> list[str]:
    """The parenthesised parts of ``text`` that hold another parenthesis (each outermost one once)."""
    found, depth, start, nested = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start, nested = i, False
            depth += 1
            nested = nested or depth > 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0 and nested:
                found.append(text[start:i + 1])
    return found


def test_nested_parentheses_are_found() -> None:
    assert _nested_parentheses("a (b (c) d) e (f) (g (h))") == ["(b (c) d)", "(g (h))"]
    assert _nested_parentheses("a (b) c (d), e") == []


def test_default_limitations_and_whats_new_nest_no_parentheses(default_review: Path) -> None:
    """The Limitations read 'for the primary outcome (PTSD severity at the primary endpoint (mean difference))'
    and 'one reviewer (curation (shared/evidence))', What's new 'the primary analysis (... (mean difference))'
    and 'not pooled (k = 2: ... scales (Feder2014: IES-R; Feder2021: CAPS-5); see ...)': the analysis title, the
    reviewer's name and the unpooled reason hold parentheses of their own, so they now stand between commas or
    after a colon. The shipped review has all three."""
    import json

    md, page = _reports(default_review)
    config = load_config(default_review / "config/config.yaml")
    (primary,) = [a for a in config["synthesis"]["analyses"] if a.get("primary")]
    reason = json.loads((default_review / f"results/synthesis/{primary['id']}.json").read_text(encoding="utf-8"))["reason"]
    reviewers = json.loads((default_review / "results/screening/agreement.json").read_text(encoding="utf-8"))["title_abstract"]["reviewers"]
    assert "(" in primary["title"] and "(" in reason and any("(" in r for r in reviewers)
    for text, (start, end) in ((md, ("## Limitations", "## Provenance")), (html.unescape(page), ("<h2>Limitations</h2>", "<h2>Provenance</h2>"))):
        part = text[text.index(start):text.index(end)]
        assert "What's new" in part and "Single-reviewer screening" in part
        assert _nested_parentheses(part) == []
        assert f"for the primary outcome, {primary['title']}, in the sources read" in part
        assert f"Pooled estimate: the primary analysis, {primary['title']}, with the studies" in part
        assert f"one reviewer, {reviewers[0]}, screened each record" in part
        assert f"| not pooled, k = 2: {reason} |" in part or f"<td>not pooled, k = 2: {reason}</td>" in part


def test_md_escape_escapes_every_block_start_only_at_the_start_of_a_line_or_list_item() -> None:
    """A value starting a line or a list item of report.md (``md``) that begins like a heading, a bullet,
    a thematic break, a fence or an ordered list would become one ("# 1 trial" a heading, "1. Smith" a
    numbered list); only ">" was escaped. Escaped now with a backslash (CommonMark: the character
    itself); text that opens no block, and the same text in a cell or mid-line (``md_inline``), is kept."""
    cases = {
        "# Heading": "\\# Heading", "###### six": "\\###### six", "#": "\\#", "- item": "\\- item", "+ item": "\\+ item",
        "* item": "\\* item", "---": "\\---", "- - -": "\\- - -", "***": "\\***", "___": "\\___", "~~~ fence": "\\~~~ fence",
        "1. one": "1\\. one", "12) twelve": "12\\) twelve", "2025. A year": "2025\\. A year", "> quote": "\\> quote",
    }
    for text, escaped in cases.items():
        assert rep.md_escape(text) == escaped, text
        assert rep.md_inline(text) == text, text
    for plain in ("#hashtag", "####### seven", "-5 mg", "*emphasis*", "1.5 mg/kg", "12 trials", "abc - def", "--", "1234567890. ten digits"):
        assert rep.md_escape(plain) == plain, plain
