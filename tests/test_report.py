"""The report: built from results/ only, escaped, deterministic, self-contained, and right about its numbers."""

from __future__ import annotations

import html
import json
import math
import re
import subprocess
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_snakemake, shipped_resources
from livingreview import report as rep
from livingreview.config import TEMPLATE_DIR, load_config
from livingreview.constants import column_label
from livingreview.errors import InputFormatError
from livingreview.prisma import compute_counts
from livingreview.prisma_diagram import render_svg
from livingreview.runs import sha256_file
from livingreview.tables import read_tsv
from test_prisma_counts import RUN1, RUN2, SOURCES, first_run_ledger, second_run_ledger

HOSTILE = '<script>alert("x")</script> & <b>bold</b> < 3'


def _ledger() -> list[dict[str, str]]:
    rows = [
        ("pubmed:1", "c1", "identification", "identified", "pubmed", "f:1", ""),
        ("pubmed:1", "c1", "dedup", "canonical", "unique", "", ""),
        ("pubmed:1", "c1", "automation", "passed", "", "", ""),
        ("pubmed:1", "c1", "title_abstract", "included", "", "decisions.tsv:2", ""),
        ("pubmed:1", "c1", "retrieval", "retrieved", "", "", ""),
        ("pubmed:1", "c1", "full_text", "included", "", "decisions.tsv:3", ""),
        ("pubmed:1", "c1", "study", "included", "primary report", "TrialA2014", ""),
        ("pubmed:2", "c2", "identification", "identified", "pubmed", "f:20", ""),
        ("pubmed:2", "c2", "dedup", "canonical", "unique", "", ""),
        ("pubmed:2", "c2", "automation", "passed", "", "", ""),
        ("pubmed:2", "c2", "title_abstract", "included", "", "decisions.tsv:4", ""),
        ("pubmed:2", "c2", "retrieval", "retrieved", "", "", ""),
        ("pubmed:2", "c2", "full_text", "excluded", "Open-label trial", "decisions.tsv:5", ""),
        ("pubmed:3", "c3", "identification", "identified", "pubmed", "f:40", ""),
        ("pubmed:3", "c3", "dedup", "canonical", "unique", "", ""),
        ("pubmed:3", "c3", "automation", "excluded", "Not human", "animal_study", "title[0:4]: rats"),
    ]
    keys = ("record_id", "cluster_id", "stage", "outcome", "reason", "reference", "evidence")
    return [dict(zip(keys, r)) for r in rows]


COUNTS = {
    "database_results": 3, "register_results": 0, "duplicates": 0, "excluded_automatic": 1, "excluded_other": 0,
    "records_screened": 2, "records_excluded": 0, "dbr_sought_reports": 2, "dbr_notretrieved_reports": 0,
    "dbr_assessed": 2, "dbr_excluded": [{"reason": "Open-label trial", "n": 1}], "new_studies": 1, "new_reports": 1,
    "total_studies": 1, "total_reports": 1, "previous_studies": 0, "previous_reports": 0,
    "database_specific_results": [{"database": "pubmed", "label": "PubMed", "n": 3}], "register_specific_results": [],
}

ANALYSIS = {
    "analysis": "sev", "title": "Severity", "primary": True, "measure": "MD", "log_scale": False, "pooled": False,
    "reason": "k = 1 (fewer than 2 studies)", "direction": "Positive values favour ketamine",
    "studies": [{"study": "TrialA2014", "yi": 12.7, "ci_low": 2.55, "ci_high": 22.85, "scale": "IES-R", "outcome_id": "TrialA2014#1"}],
    "not_estimable": [{"study": "TrialB2020", "reason": "no numbers reported"}],
}


SINGLE_REVIEWER = {stage: {"computable": False, "pairs": [], "reviewers": ["curation"], "why": "single reviewer (curation): no record was decided by two reviewers"}
                   for stage in ("title_abstract", "full_text")}


def _context(tmp_path: Path, *, title: str = "Trial A report", rob: Path | None = None, analysis: dict | None = None) -> dict:
    config = load_config(ROOT / "config/config.yaml")
    config["screening"]["rules"] = str(ROOT / config["screening"]["rules"])
    columns = read_tsv(shipped_resources() / "extraction/studies.tsv")[0].keys() - {"_line"}
    blank = dict.fromkeys(columns, "")
    studies = [
        {**blank, "study_id": "TrialA2014", "year": "2014", "n_randomized": "41", "crossover": "true", "design": "RCT"},
        {**blank, "study_id": "TrialB2020", "year": "2020", "n_randomized": "60", "crossover": "false", "design": "RCT"},
    ]
    cells = dict.fromkeys(("year", "n_randomized", "scale", "timepoint", "favours", "significant", "summary", "inferred", "outcome_ids"), "")
    direction = [
        {**cells, "study_id": "TrialA2014", "numbers": "yes", "domain": "ptsd_severity"},
        {**cells, "study_id": "TrialB2020", "numbers": "no", "domain": "ptsd_severity"},
    ]
    summaries = [{"run_id": "2025-09-30", "records_retrieved": 3, "duplicates_of_earlier_runs": 0, "duplicates_within_run": 0,
                  "new_clusters": 3, "awaiting_decision": 0, "new_included_studies": ["TrialA2014"], "included_studies_total": 1}]
    return rep.build_context(
        config=config,
        ledger=_ledger(),
        counts=COUNTS,
        prisma_svg=render_svg(COUNTS),
        canonical=[{"record_id": "pubmed:1", "title": title}, {"record_id": "pubmed:2", "title": HOSTILE}],
        studies=studies,
        direction=direction,
        direction_svg='<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        analyses=[(analysis or ANALYSIS, {"forest": rep.svg_data_uri("<svg xmlns='http://www.w3.org/2000/svg'/>")})],
        summaries=summaries,
        runs_root=shipped_resources() / "searches",
        rob_path=rob,
        provenance_files=[ROOT / "config/config.yaml"],
        agreement=SINGLE_REVIEWER,
    )


def test_a_leading_greater_than_is_escaped_only_where_it_would_open_a_block_quote(tmp_path: Path) -> None:
    """report.md wrote a cell ">= 2 arms" as "\\>= 2 arms": in a table cell (inline content only), a heading
    or the middle of a line a ">" is the character itself. At the start of a line or of a list item it
    would open a block quote, and stays escaped there."""
    assert rep.md_escape("> quote") == "\\> quote" and rep.md_inline("> quote") == "> quote"
    assert rep.md_inline("<b> & &amp;") == rep.md_escape("<b> & &amp;") == "\\<b> & \\&amp;"  # the rest is escaped alike
    ctx = _context(tmp_path, title=">= 30% of a trial report")
    ctx["studies"][0]["design"] = ">= 2 arms"
    ctx["limitations"] = ["> 5 trials reported no numbers."]
    ctx["analyses"][0]["summary_text"] = "> a summary"
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    assert "| TrialA2014 | >= 2 arms (crossover) | 41 |" in md
    assert " `pubmed:1` >= 30% of a trial report |" in md
    assert "\n- \\> 5 trials reported no numbers.\n" in md and "\n\\> a summary\n" in md
    assert not [line for line in md.splitlines() if re.match(r" {0,3}>| {0,3}[-*+] +>", line)]  # no block quote anywhere
    assert not [line for line in md.splitlines() if line.startswith("|") and "\\>" in line]  # no escaped ">" in a table


def test_numbers_are_computed_and_written_in_words(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    assert ctx["participants"]["total"] == 101
    assert ctx["participants"]["difference"] == 101 - 323
    assert ctx["limitations"][0].startswith("1 of 2 included trials reported no usable numbers for the primary outcome, Severity, in the sources read")
    (a,) = ctx["analyses"]
    assert a["summary_text"] == "Not pooled: k = 1 (fewer than 2 studies)."
    assert a["studies"][0]["text"] == "TrialA2014: mean difference 12.70 (95% CI 2.55 to 22.85) on IES-R"
    assert [r["excluded"] for r in ctx["rules"] if r["id"] == "animal_study"] == [1]
    assert ctx["full_text_exclusions"][0]["reason"] == "Open-label trial"
    assert ctx["studies"][0]["report_titles"] == [{"record_id": "pubmed:1", "title": "Trial A report"}]


def test_hostile_titles_are_escaped_in_html_and_markdown(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    assert HOSTILE not in html and "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; &lt; 3" in html
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    # CommonMark backslash escapes: "\<" is a literal "<", so no tag opens; the plain "&" and "< 3" stay plain
    assert '\\<script>alert("x")\\</script> & \\<b>bold\\</b> < 3' in md
    assert not re.search(r"(?<!\\)<[A-Za-z/!?]", md), "no unescaped '<' that could open raw HTML"


def test_backticks_in_record_ids_and_queries_cannot_end_their_code_in_markdown(tmp_path: Path) -> None:
    """A record id (from an export's AN field) or a query holding backticks ended its code span or
    fenced block in report.md, so the rest was read as Markdown and raw HTML (and a "|" split the
    table row); now the code is delimited by a longer run of backticks and the pipe is escaped."""
    ctx = _context(tmp_path)
    ctx["full_text_exclusions"][0]["record_id"] = "embase:7` <img src=x onerror=alert(1)> `|x"
    ctx["search"]["sources"][0]["archived"][0]["query"] = "1. ketamine.mp.\n```\n<img src=x onerror=alert(2)>"
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    assert "| ``embase:7` <img src=x onerror=alert(1)> `\\|x`` | " in md
    assert "\n````\n1. ketamine.mp.\n```\n<img src=x onerror=alert(2)>\n````\n" in md
    assert md.count("onerror") == 2
    plain = rep.render(_context(tmp_path), template=TEMPLATE_DIR / "report.md.j2")
    assert "| `pubmed:2` | " in plain and "\n```\n1. exp ketamine/" in plain  # ids and queries without backticks: as before


def test_a_title_cannot_add_a_link_or_a_remote_image_to_the_markdown_report(tmp_path: Path) -> None:
    """md_escape kept "[", "]" and "\\": a title "![x](https://...)" showed a remote image (fetched
    wherever report.md is viewed) and "[x](javascript:...)" a link."""
    title = "Trial ![x](https://tracker.example/p.png) [click](javascript:alert(1)) a\\[b](c) `d`"
    md = rep.render(_context(tmp_path, title=title), template=TEMPLATE_DIR / "report.md.j2")
    assert "Trial !\\[x\\](https://tracker.example/p.png) \\[click\\](javascript:alert(1)) a\\\\\\[b\\](c) \\`d\\`" in md
    assert "![x](" not in md and "[click](" not in md


def test_html_is_self_contained_and_renders_the_same_bytes_twice(tmp_path: Path) -> None:
    html = rep.render(_context(tmp_path), template=TEMPLATE_DIR / "report.html.j2")
    assert html == rep.render(_context(tmp_path), template=TEMPLATE_DIR / "report.html.j2")
    assert not re.search(r"<(script|link|iframe)\b", html)
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing is fetched from the network"
    assert html.count("<svg") >= 1 and 'id="prisma-figure"' in html
    assert "The search strategies are a reconstruction" in html
    assert "No risk-of-bias assessment is available" in html


def test_risk_of_bias_table_when_the_file_exists(tmp_path: Path) -> None:
    rob = tmp_path / "risk_of_bias.tsv"
    rob.write_text("study_id\tD1\tD2\tD3\tD4\tD5\toverall\nTrialA2014\tLow\tSome concerns\tLow\tLow\tHigh\tHigh\n", encoding="utf-8")
    ctx = _context(tmp_path, rob=rob)
    assert ctx["risk_of_bias"]["available"]
    colours = [j["colour"] for j in ctx["risk_of_bias"]["rows"][0]["judgements"]]
    assert colours == ["#4caf50", "#ffc107", "#4caf50", "#4caf50", "#e53935", "#e53935"]
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    assert "Some concerns" in html and "No risk-of-bias assessment" not in html


DEFAULT_PRISMA_ROWS = [
    "Records identified from databases", "Records identified from registers", "Duplicate records removed",
    "Records marked ineligible by automation tools", "Records screened", "Records excluded", "Reports sought for retrieval",
    "Reports not retrieved", "Reports assessed for eligibility", "Reports excluded", "Studies included", "Reports of included studies",
]


def _table(table: dict) -> dict[str, list[int]]:
    return {row["label"]: row["cells"] for row in table["rows"]}


def test_prisma_table_without_previous_version_is_one_column(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    assert ctx["prisma_table"]["columns"] == ["n"] and ctx["prisma_table"]["previous_runs"] == []
    rows = _table(ctx["prisma_table"])
    assert list(rows) == DEFAULT_PRISMA_ROWS, "no awaiting or other-reasons rows when they are zero"
    assert rows["Records screened"] == [COUNTS["records_screened"]] and rows["Studies included"] == [COUNTS["total_studies"]]
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    assert "| | n |\n|---|---:|\n| Records identified from databases | 3 |\n" in md
    assert "Previous version" not in md
    assert 'id="prisma-table"' not in rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")


def test_prisma_table_shows_awaiting_rows_when_any() -> None:
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    assert counts["records_awaiting"] and counts["dbr_awaiting"] and counts["excluded_other"]
    rows = _table(rep.prisma_table(counts, SOURCES))
    assert rows["Records awaiting a decision (title/abstract)"] == [counts["records_awaiting"]]
    assert rows["Reports awaiting a decision (full text)"] == [counts["dbr_awaiting"]]
    assert rows["Records removed for other reasons"] == [counts["excluded_other"]]
    labels = list(rows)
    assert labels.index("Records awaiting a decision (title/abstract)") == labels.index("Records excluded") + 1
    assert labels.index("Reports awaiting a decision (full text)") == labels.index("Reports assessed for eligibility") + 1


def test_prisma_table_of_an_update_has_previous_update_and_total_columns() -> None:
    counts = compute_counts(second_run_ledger(), sources=SOURCES)
    table = rep.prisma_table(counts, SOURCES)
    assert table["columns"] == ["Previous version", "This update", "Total"]
    assert table["previous_runs"] == [RUN1] and table["update_runs"] == [RUN2]
    rows = _table(table)
    total = counts["all_runs"]
    for label, key in [("Duplicate records removed", "duplicates"), ("Records screened", "records_screened"),
                       ("Records awaiting a decision (title/abstract)", "records_awaiting"), ("Reports assessed for eligibility", "dbr_assessed"),
                       ("Reports awaiting a decision (full text)", "dbr_awaiting")]:
        assert rows[label][1:] == [counts[key], total[key]], label
    assert rows["Studies included"] == [counts["previous_studies"], counts["new_studies"], counts["total_studies"]]
    assert rows["Reports of included studies"] == [counts["previous_reports"], counts["new_reports"], counts["total_reports"]]
    # the previous-version column (total minus this update) is the first run's own table
    first = _table(rep.prisma_table(compute_counts(first_run_ledger(), sources=SOURCES), SOURCES))
    assert {label: cells[0] for label, cells in rows.items()} == {label: n for label, (n,) in first.items()}
    assert rows["Records identified from databases"][2] + rows["Records identified from registers"][2] == total["records_identified"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.pop("all_runs"), "no 'all_runs' or 'runs' flow"),
        (lambda c: c["previous"].update(records_identified=c["previous"]["records_identified"] + 1), "but its databases and registers add up to"),
        (lambda c: c["all_runs"].update(records_screened=0), "the previous-version column is negative for: Records screened"),
    ],
    ids=["no-all-runs", "identified-mismatch", "negative"],
)
def test_prisma_table_refuses_counts_that_do_not_add_up(mutate: Any, message: str) -> None:
    counts = compute_counts(second_run_ledger(), sources=SOURCES)
    mutate(counts)
    with pytest.raises(InputFormatError, match=re.escape(message)) as err:
        rep.prisma_table(counts, SOURCES)
    assert err.value.where == "results/prisma/counts.json"


def test_ratio_measures_are_back_transformed() -> None:
    entry = {"yi": 0.0, "ci_low": -0.6931471805599453, "ci_high": 0.6931471805599453}
    assert rep.effect_in_words(entry, measure="RR", log_scale=True) == "1.00 (95% CI 0.50 to 2.00)"


def test_xml_prolog_is_stripped_for_inlining() -> None:
    svg = '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n<svg/>'
    assert rep.strip_xml_prolog(svg) == "<svg/>"


def test_default_review_report(default_review: Path) -> None:
    html = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    studies = read_tsv(default_review / "results/studies/included_studies.tsv")
    total = sum(int(s["n_randomized"]) for s in studies)
    assert f"with {total} randomized participants" in html and total == 327
    assert "reports 323 participants (a difference of 4)" in html
    assert "(a difference of 4). Its list of included studies" in html
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    for text, end in ((html, "</p>"), (md, "\n\n")):
        paragraph = text[text.index(f"with {total} randomized participants") :].split(end, 1)[0]
        assert paragraph.count("323") == 1 and paragraph.count(str(total)) == 1, "each figure is stated once"
    for study in studies:
        assert study["study_id"] in html
    assert "Feder2014: mean difference 12.70 (95% CI 2.55 to 22.85) on IES-R" in html
    assert "5 of 7 included trials reported no usable numbers for the primary outcome" in html
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    assert "## What's new" in md and "| 2025-09-30 | 112 |" in md


def test_default_limitations_say_dadabayev2020_randomized_patients_without_ptsd(default_review: Path) -> None:
    """Dadabayev2020's design cell and the participants explanation say its 41 participants include
    patients without PTSD (the review's population is people with PTSD); the Limitations did not. They
    now say so from studies.tsv outside_population, with the number randomized of the curated evidence."""
    from conftest import EVIDENCE

    (facts,) = [s["facts"] for s in json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8")) if s["study_id"] == "Dadabayev2020"]
    assert "with and without PTSD" in facts["design"]
    (row,) = [s for s in read_tsv(default_review / "results/studies/included_studies.tsv") if s["outside_population"]]
    assert (row["study_id"], row["n_randomized"]) == ("Dadabayev2020", str(facts["n_randomized_total"])) == ("Dadabayev2020", "41")
    sentence = ("Participants outside the review's population in 1 trial: Dadabayev2020's 41 randomized participants include "
                "chronic-pain patients without PTSD; they are counted in the participant total.")
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    page = html.unescape((default_review / "results/report/index.html").read_text(encoding="utf-8"))
    for text, start, end in ((md, "## Limitations", "## What's new"), (page, "<h2>Limitations</h2>", "<h2>What's new</h2>")):
        assert sentence in text[text.index(start):text.index(end)]


def test_limitations_name_participants_outside_the_population_only_when_the_table_does() -> None:
    base = {"n_randomized": "", "crossover": "false", "outside_population": ""}
    studies = [{**base, "study_id": "B2020", "n_randomized": "30", "outside_population": "adults  without\tthe condition"},
               {**base, "study_id": "A2019", "outside_population": "children"}, {**base, "study_id": "C2021", "n_randomized": "20"}]
    out = rep.limitations(studies, [], None)
    assert ("Participants outside the review's population in 2 trials: A2019's randomized participants, number not reported, include children; "
            "B2020's 30 randomized participants include adults without the condition; they are counted in the participant total.") in out
    assert not [t for t in rep.limitations([studies[2], {**base, "study_id": "D"}], [], None) if "outside" in t]
    assert rep.limitations([studies[1]], [], None)[-1] == (
        "Participants outside the review's population in 1 trial: A2019's randomized participants, number not reported, include children.")


@pytest.mark.parametrize("name", ["index.html", "report.md"])
def test_report_has_no_timestamps(default_review: Path, name: str) -> None:
    text = (default_review / "results/report" / name).read_text(encoding="utf-8")
    assert not re.search(r"\b20\d\d-\d\d-\d\d[ T]\d\d:\d\d", text)


def _provenance_rows(md: str) -> dict[str, str]:
    return dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", md, flags=re.MULTILINE))


def test_provenance_hashes_the_config_files_the_run_read(default_review: Path, tmp_path: Path) -> None:
    """Default run: config/config.yaml. Under `--configfile other.yaml` the report also hashes that file
    (Snakemake's workflow.configfiles reaches the report through the rule's params), and nothing else changes."""
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    rows = _provenance_rows(md)
    assert rows["config/config.yaml"] == sha256_file(default_review / "config/config.yaml")
    assert [p for p in rows if p.startswith("config/") and p.endswith(".yaml") and p != "config/screening.yaml"] == ["config/config.yaml"]

    work = tmp_path / "review"
    shutil.copytree(default_review, work, symlinks=True)
    other = work / "config/other.yaml"
    other.write_text("# the same settings, given with --configfile\n" + (work / "config/config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in (work / "results").rglob("*") if p.is_file() and p.parent.name != "report"}
    run_snakemake(work, extra=("--configfile", "config/other.yaml"))
    assert {p: p.stat().st_mtime_ns for p in before} == before, "only the report is re-rendered"
    md_other = (work / "results/report/report.md").read_text(encoding="utf-8")
    rows_other = _provenance_rows(md_other)
    assert rows_other["config/other.yaml"] == sha256_file(other) and rows_other["config/config.yaml"] == rows["config/config.yaml"]
    added = f"| `config/other.yaml` | `{rows_other['config/other.yaml']}` |\n"
    assert md_other.replace(added, "") == md


def test_config_paths_are_named_relative_to_the_review_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert rep.workdir_relative(tmp_path / "config" / "other.yaml") == "config/other.yaml"
    assert rep.workdir_relative("config/config.yaml") == "config/config.yaml"
    outside = tmp_path.parent / "elsewhere.yaml"
    assert rep.workdir_relative(outside) == outside.as_posix()


def _archive(root: Path, run_id: str, files: list[dict[str, Any]]) -> None:
    """A run folder with a manifest only (search_methods reads manifests, never the archived files)."""
    import json

    (root / run_id).mkdir(parents=True)
    entries = [{"format": "ris", "query_translation": "", "count_reported": 1, "count_in_file": 1, "encoding": "utf-8", "sha256": "0" * 64,
                "notes": "", **f} for f in files]
    (root / run_id / "manifest.json").write_text(json.dumps({"run_id": run_id, "date_run": run_id, "files": entries}), encoding="utf-8")


def test_search_methods_show_the_archived_queries_not_the_config(tmp_path: Path) -> None:
    """PRISMA-S: the strategy shown is the exact query of each archived search with its date limits;
    the config's strategy (the protocol, the next search) appears only where it differs or was never run."""
    config = load_config(ROOT / "config/config.yaml")
    strategies = {s["database"]: s["strategy"] for s in config["searches"]["sources"]}
    root = tmp_path / "searches"
    pubmed = {"database": "pubmed", "platform": "PubMed (NCBI E-utilities)", "query": strategies["pubmed"]}
    _archive(root, "2025-09-30", [
        {**pubmed, "name": "pubmed.xml.gz", "date_limits": {"from": "inception", "to": "2025/09/30"},
         "query_translation": '"ketamine"[MeSH Terms] OR ketamine[tiab]'},
        {"name": "embase.ris", "database": "embase", "platform": "Ovid Embase", "query": "1. ketamine.ti,ab.\n2. PTSD.ti,ab.\n3. 1 and 2",
         "date_limits": {"from": "inception", "to": "2025/09/30"}},
        {"name": "cinahl.ris", "database": "cinahl", "platform": "EBSCO CINAHL", "query": "", "date_limits": {}, "count_reported": None},
        {"name": "lilacs.ris", "database": "lilacs", "platform": "BVS LILACS", "query": "ketamine", "date_limits": {"to": "2025/09/30"}},
        {"name": "wos.ris", "database": "wos", "platform": "Web of Science", "query": "ketamine", "date_limits": {"from": "2020/01/01"}},
    ])
    _archive(root, "2025-10-31", [{**pubmed, "name": "pubmed.xml.gz", "date_limits": {"from": "2025/09/30", "to": "2025/10/31", "datetype": "edat"},
                                   "query": "  " + strategies["pubmed"].replace(" AND ", "\n AND ") + "\n"}])
    search = rep.search_methods(config, root)
    by = {s["database"]: s for s in search["sources"]}
    # the two PubMed runs ran the same query (whitespace aside): shown once, with both searches and their limits
    (q,) = by["pubmed"]["archived"]
    assert q["query"] == strategies["pubmed"] and q["translations"] == [{"text": '"ketamine"[MeSH Terms] OR ketamine[tiab]', "runs": ["2025-09-30"]}]
    assert [(x["run_id"], x["limits"]) for x in q["searches"]] == [("2025-09-30", "inception to 2025/09/30"), ("2025-10-31", "2025/09/30 to 2025/10/31 (edat)")]
    assert by["pubmed"]["protocol_differs"] is False
    assert by["embase"]["protocol_differs"] is True and by["embase"]["archived"][0]["query"].startswith("1. ketamine.ti,ab.")
    assert by["psycinfo"]["archived"] == [] and by["clinicaltrials"]["archived"] == []
    assert by["cinahl"]["not_in_config"] is True and by["cinahl"]["archived"][0]["searches"][0]["limits"] == "not reported"
    # only one end recorded: that end alone (an add-run export given only --date-to or --date-from)
    assert by["lilacs"]["archived"][0]["searches"][0]["limits"] == "to 2025/09/30"
    assert by["wos"]["archived"][0]["searches"][0]["limits"] == "from 2020/01/01"
    ctx = _context(tmp_path)
    ctx["search"] = search
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    for text in (html, md):
        assert text.count("1. ketamine.ti,ab.") == 1, "the Embase query as run"
        assert "The strategy in config/config.yaml differs from every archived query above" in text
        assert "limits 2025/09/30 to 2025/10/31 (edat)" in text and "search run 2025-10-31" in text
        assert "Query translation, as the database reported it (search run 2025-09-30)" in text
        assert "Not yet searched: no archived run holds this source" in text  # psycinfo, clinicaltrials
        assert "The manifest records no query for this search (not reported)." in text  # cinahl
        assert "archived but not among the searches of config/config.yaml" in text
        assert "limits not reported)" in text and "not reported to" not in text and "to not reported" not in text  # cinahl
        assert "limits to 2025/09/30)" in text and "limits from 2020/01/01)" in text
    # the search table's date-limits cell: the same words, never a bare ' to '
    assert "| EBSCO CINAHL | not reported | not reported | 1 |" in md and "<td>EBSCO CINAHL</td><td>not reported</td>" in html
    assert "| BVS LILACS | to 2025/09/30 |" in md and "<td>Web of Science</td><td>from 2020/01/01</td>" in html
    assert "| Ovid Embase | inception to 2025/09/30 |" in md and "<td>PubMed (NCBI E-utilities)</td><td>2025/09/30 to 2025/10/31 (edat)</td>" in html
    assert html.count("(ketamine or esketamine or arketamine or ketalar or spravato).ti,ab,kw.") == 1, "the Embase protocol strategy, once"


def _first_embase_run(tmp_path: Path) -> tuple[dict, Path, dict[str, str]]:
    """The default config, a searches folder under ``tmp_path`` holding a first run (2025-09-30: an
    Embase export of 2 records), and the date limits it was searched with."""
    config = load_config(ROOT / "config/config.yaml")
    root = tmp_path / "searches"
    limits = {"from": "2025/09/30", "to": "2025/10/31"}
    _archive(root, "2025-09-30", [{"name": "embase.ris", "database": "embase", "platform": "Ovid Embase", "query": "q", "date_limits": limits,
                                   "count_in_file": 2, "notes": "archived with livingreview add-run"}])
    return config, root, limits


def test_search_table_notes_the_records_earlier_runs_hold(tmp_path: Path) -> None:
    """Records of an archived search that an earlier run holds are not records identified by that run:
    the search table notes them, for an export archived whole by add-run (its manifest's
    already_archived) and for a live PubMed run (the part of its notes saying so), and for no other."""
    config, root, limits = _first_embase_run(tmp_path)
    _archive(root, "2025-10-31", [
        {"name": "embase.ris", "database": "embase", "platform": "Ovid Embase", "query": "q", "date_limits": limits, "count_in_file": 3,
         "already_archived": {"embase:2031000002": "2025-09-30", "embase:2031000001": "2025-09-30"},
         "notes": "archived with livingreview add-run; 2 of 3 records in this file are already archived and left out: 2025-09-30 (2)"},
        {"name": "pubmed.xml.gz", "database": "pubmed", "platform": "PubMed (NCBI E-utilities)", "query": "q", "date_limits": limits,
         "count_reported": 3, "count_in_file": 2,
         "notes": "esearch usehistory=y; 1 request(s), 0 retried; 1 of 3 records found are already archived and left out of this file: 2025-09-30 (1)"},
    ])
    search = rep.search_methods(config, root)
    assert search["left_out"] == [
        {"run_id": "2025-10-31", "path": f"{root.as_posix()}/2025-10-31/embase.ris",
         "note": "2 of 3 records in this file are already archived and left out: 2025-09-30 (2)"},
        {"run_id": "2025-10-31", "path": f"{root.as_posix()}/2025-10-31/pubmed.xml.gz",
         "note": "1 of 3 records found are already archived and left out of this file: 2025-09-30 (1)"},
    ]
    ctx = _context(tmp_path)
    ctx["search"] = search
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    assert f"- Run 2025-10-31, `{root.as_posix()}/2025-10-31/embase.ris`: 2 of 3 records in this file are already archived and left out: 2025-09-30 (2) (not records identified by this run)." in md
    assert f"<li>Run 2025-10-31, <code>{root.as_posix()}/2025-10-31/pubmed.xml.gz</code>: 1 of 3 records found are already archived and left out of this file: 2025-09-30 (1) (not records identified by this run).</li>" in html
    assert md.count("not records identified by this run") == html.count("not records identified by this run") == 2


def _tables_not_after_a_blank_line(md: str) -> list[str]:
    """Lines that start a Markdown table right below a line of text: CommonMark renderers without
    GFM's table-interrupts-paragraph rule (Python-Markdown, pandoc's default) show such a table as text."""
    lines = md.splitlines()
    return [line for before, line in zip(lines, lines[1:]) if line.startswith("|") and before.strip() and not before.startswith("|")]


def test_every_markdown_table_follows_a_blank_line_also_below_the_left_out_note(tmp_path: Path) -> None:
    config, root, limits = _first_embase_run(tmp_path)
    _archive(root, "2025-10-31", [
        {"name": "pubmed.xml.gz", "database": "pubmed", "platform": "PubMed (NCBI E-utilities)", "query": "q", "date_limits": limits,
         "count_reported": 3, "count_in_file": 2,
         "notes": "esearch usehistory=y; 1 request(s), 0 retried; 1 of 3 records found are already archived and left out of this file: 2025-09-30 (1)"},
    ])
    ctx = _context(tmp_path)
    ctx["search"] = rep.search_methods(config, root)
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    whats_new = md.split("## What's new", 1)[1].split("\n## ", 1)[0]
    assert "Records retrieved are the records each run archived and imported." in whats_new and "| Search run |" in whats_new
    assert _tables_not_after_a_blank_line(md) == []
    assert _tables_not_after_a_blank_line(rep.render(_context(tmp_path), template=TEMPLATE_DIR / "report.md.j2")) == []


def test_study_lines_show_the_numbers_as_reported(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    how = "TrialA2014#1: MD 12.7 (95% CI 2.5 to 22.8); vi from the CI"
    ctx["analyses"] = [rep.analysis_context({**ANALYSIS, "studies": [{**ANALYSIS["studies"][0], "how": how}]}, {})]
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    assert f"TrialA2014: mean difference 12.70 (95% CI 2.55 to 22.85) on IES-R <span class=\"muted\">[from {how}]</span>" in html
    assert f"- TrialA2014: mean difference 12.70 (95% CI 2.55 to 22.85) on IES-R [from {how}]\n" in md
    # without a derivation the outcome_id is shown as before
    plain = rep.render(_context(tmp_path), template=TEMPLATE_DIR / "report.md.j2")
    assert "- TrialA2014: mean difference 12.70 (95% CI 2.55 to 22.85) on IES-R [TrialA2014#1]\n" in plain


def test_prisma_table_counts_reports_excluded(tmp_path: Path) -> None:
    rows = _table(_context(tmp_path)["prisma_table"])
    assert rows["Reports excluded"] == [sum(r["n"] for r in COUNTS["dbr_excluded"])] == [1]
    counts = compute_counts(second_run_ledger(), sources=SOURCES)
    rows = _table(rep.prisma_table(counts, SOURCES))
    assert rows["Reports excluded"] == [counts["all_runs"]["dbr_excluded_total"] - counts["dbr_excluded_total"],
                                        counts["dbr_excluded_total"], counts["all_runs"]["dbr_excluded_total"]]


def test_default_review_report_methods_figures_and_provenance_are_checkable(default_review: Path) -> None:
    """An auditor's checks on the built report: the methods quote every archived manifest's query and
    limits, nothing is fetched from the network (not even from inside the embedded figures), every
    input hash is the file's sha256, and each study estimate shows the numbers as reported."""
    import base64
    import json

    html = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    manifests = sorted((default_review / "resources/searches").glob("*/manifest.json"))
    assert manifests
    for path in manifests:
        m = json.loads(path.read_text(encoding="utf-8"))
        for f in m["files"]:
            limits = f"{f['date_limits']['from']} to {f['date_limits']['to']}"
            assert f"search run {m['run_id']} (run on {m['date_run']}, `{f['name']}`, limits {limits})" in md
            assert f"```\n{f['query']}\n```" in md
    assert "differs from every archived query" not in md, "the default config runs the archived strategies"
    # self-contained: no external fetch in the page or in the SVGs embedded as data: URIs
    external = re.compile(r'(?:src|href)\s*=\s*["\'](?:https?:)?//|url\(\s*["\']?(?:https?:)?//|@import', re.IGNORECASE)
    assert not external.search(html)
    uris = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(uris) >= 4
    for uri in uris:
        assert not external.search(base64.b64decode(uri).decode("utf-8"))
    rows = _provenance_rows(md)
    for path in manifests:
        run = path.parent.relative_to(default_review).as_posix()
        assert f"{run}/manifest.json" in rows
        assert all(f"{run}/{f['name']}" in rows for f in json.loads(path.read_text(encoding="utf-8"))["files"])
    for name in ("config/screening.yaml", "resources/screening/decisions.tsv", "resources/extraction/studies.tsv", "resources/extraction/outcomes.tsv"):
        assert name in rows
    assert all(digest == sha256_file(default_review / p) for p, digest in rows.items())
    assert "[from Feder2014#1: MD 12.7 (95% CI 2.5 to 22.8); vi from the CI;" in md
    # reports excluded at full text: the full-text exclusions of the shipped decisions (each a report of its own)
    ft_excluded = [r for r in read_tsv(default_review / "resources/screening/decisions.tsv") if r["stage"] == "full_text" and r["decision"] == "exclude"]
    assert f"| Reports excluded | {len(ft_excluded)} |" in md


def test_effect_direction_rows_speak_the_protocols_words() -> None:
    from livingreview.report import _direction_row

    synthesis = {"intervention_label": "exercise", "domain_labels": {"mood": "Depressive symptoms"}}
    row = {"study_id": "A", "domain": "mood", "favours": "intervention", "summary": "x"}
    assert _direction_row(row, synthesis) == {"study_id": "A", "domain": "Depressive symptoms", "favours": "favours exercise", "summary": "x"}
    assert _direction_row({"domain": "other", "favours": "control"}, synthesis) == {"domain": "other", "favours": "favours control"}
    assert _direction_row({"domain": "mood", "favours": "intervention"}, {})["favours"] == "favours intervention"
    # the outcomes.tsv / effect_direction.tsv codes are never shown as such
    words = {code: _direction_row({"domain": "mood", "favours": code}, synthesis)["favours"] for code in ("none", "mixed", "", "unclear", "not_reported")}
    assert words == {"none": "no difference reported", "mixed": "mixed / conflicting", "": "direction unclear", "unclear": "direction unclear",
                     "not_reported": "not reported"}


def test_effect_direction_table_says_each_direction_as_the_plot_legend_does(default_review: Path) -> None:
    """The report's effect-direction table gives each row's direction in the words of the effect-direction plot's
    legend (favours ketamine, no difference reported, direction unclear, ...), never the code of effect_direction.tsv
    ('none', 'not_reported' showed as such beside 'ketamine'); the code's words come from the SVG legend itself."""
    rows = read_tsv(default_review / "results/synthesis/effect_direction.tsv")
    svg = (default_review / "results/synthesis/effect_direction.svg").read_text(encoding="utf-8")
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    table = md[md.index("| Study | N | Domain | Scale | Timepoint | Direction | Significant | Summary |"):].split("\n\n")[0].splitlines()[2:]
    assert len(table) == len(rows) == 11
    legend = {"intervention": "favours ketamine", "none": "no difference reported", "unclear": "direction unclear"}
    for code, words in legend.items():
        assert f">{words}</text>" in svg  # the plot's legend says it so
    for line, row in zip(table, rows):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[0] == row["study_id"]
        assert cells[5] == legend.get(row["favours"], "not reported" if row["favours"] == "not_reported" else None), (cells, row["favours"])
    assert {r["favours"] for r in rows} == {"intervention", "none", "unclear", "not_reported"}


def test_whats_new_lists_runs_oldest_first_a_days_tenth_run_after_its_second() -> None:
    """Run ids sort by run_sort_key, not as text ("2025-10-31-10" < "2025-10-31-2" as strings)."""
    def summary(run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "records_retrieved": 1, "duplicates_of_earlier_runs": 0, "duplicates_within_run": 0, "new_clusters": 1, "awaiting_decision": 0,
                "new_included_studies": [], "included_studies_total": 0}

    runs = ["2025-10-31-10", "2025-10-31", "2025-10-31-2", "2025-09-30"]
    assert [r["run_id"] for r in rep.whats_new([summary(r) for r in runs])] == ["2025-09-30", "2025-10-31", "2025-10-31-2", "2025-10-31-10"]


def test_empty_sections_say_so_and_unfilled_columns_are_left_out(tmp_path: Path) -> None:
    """No title/abstract exclusion, no limitation, no dose or infusions: a sentence, not an empty table or heading."""
    ctx = _context(tmp_path)
    assert ctx["show_dose"] is False and ctx["show_infusions"] is False  # the fixture's studies fill neither
    ctx["title_abstract_reasons"] = []
    ctx["limitations"] = []
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    for text in (md, html):
        assert "No record was excluded at title/abstract by a person." in text
        assert "None that the data force" in text
        assert "Infusions" not in text and "Dose" not in text
    assert "| Study | Design | Randomized | Arms | Comparator | Registration | Reports |\n|---|---|---:|---|---|---|---|" in md
    ctx["studies"][0]["dose"] = "0.5"
    ctx["show_dose"] = True
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    assert "| Study | Design | Randomized | Arms | Dose (mg/kg) | Comparator | Registration | Reports |\n|---|---|---:|---|---|---|---|---|" in md


def test_crossover_limitation_names_only_the_trials_whose_estimate_is_within_participant() -> None:
    # Feder2014-like: crossover with a paired estimate used; Pradhan2017-like: crossover, no estimate.
    studies = [
        {"study_id": "Cross2014", "n_randomized": "41", "crossover": "true"},
        {"study_id": "Cross2017", "n_randomized": "10", "crossover": "true"},
        {"study_id": "Para2021", "n_randomized": "30", "crossover": "false"},
    ]
    primary = {"analysis": "sev", "title": "Severity", "pooled": False, "reason": "k = 2", "studies": [
        {"study": "Cross2014", "crossover": True, "how": "Cross2014#1: MD 12.7; crossover trial: paired (within-participant) estimate used as reported; ..."},
        {"study": "Para2021", "crossover": False, "how": "Para2021#1: MD -11.88"},
    ]}
    other = {"analysis": "arms", "title": "Arms", "pooled": False, "reason": "k = 1", "studies": [
        {"study": "Cross2017", "crossover": True, "how": "Cross2017#2: follow-up means/SDs; crossover arms analysed as parallel groups (conservative); ..."},
    ]}
    (text,) = [t for t in rep.limitations(studies, [], primary, analyses=[primary]) if "crossover" in t]
    assert text == ("2 trials used a crossover design (Cross2014, Cross2017): the estimate of Cross2014 is within-participant "
                    "(paired analysis, as reported); Cross2017 gave no estimate.")
    (text,) = [t for t in rep.limitations(studies, [], primary, analyses=[primary, other]) if "crossover" in t]
    assert text == ("2 trials used a crossover design (Cross2014, Cross2017): the estimate of Cross2014 is within-participant "
                    "(paired analysis, as reported); the crossover arms of Cross2017 were analysed as parallel groups (conservative).")


def test_synthesis_methods_state_measures_model_heterogeneity_bias_and_certainty(tmp_path: Path) -> None:
    """PRISMA 2020 items 12-15: the report states, from the config, how effects were measured and
    pooled, heterogeneity, sensitivity and reporting-bias methods, and that certainty was not graded."""
    ctx = _context(tmp_path)
    text = " ".join(ctx["synthesis_methods"])
    synthesis = load_config(ROOT / "config/config.yaml")["synthesis"]
    for a in synthesis["analyses"]:
        assert a["title"] in text
    assert "restricted maximum likelihood (REML)" in text and "Knapp-Hartung" in text and "t distribution with k − 1 degrees of freedom" in text
    # the shipped config uses the ad hoc variant on every analysis, and the methods say so (and cite it)
    assert all(a["hksj"] and a["hksj_adhoc"] for a in synthesis["analyses"])
    assert text.count("a Knapp-Hartung standard error with the ad hoc correction (") == len(synthesis["analyses"])
    assert 'metafor test="adhoc"' in text and "Röver, Knapp & Friede 2015" in text and "without the ad hoc" not in text
    assert f"at least {synthesis['min_k']} studies" in text
    assert "risk ratios above 1 favour ketamine" in text.lower()
    assert "Hedges' g" in text and "used as reported, without a small-sample correction" in text
    assert "No missing standard deviation was imputed" in text
    assert "shared control group is never counted twice" in text
    assert "Q-profile" in text and "I²" in text and "prediction interval" in text
    assert "Leave-one-out" in text and f"funnel plot from {synthesis['funnel_min_k']} studies" in text
    assert f"Egger's test from {synthesis['egger_min_k']} studies" in text
    assert "certainty of the evidence (GRADE) was not assessed" in text
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    assert md.index("## Synthesis methods") < md.index("## Results")
    assert 'id="synthesis"' in html and "GRADE) was not assessed" in html
    # the ratio analysis's own sign note speaks of ratios, not of "positive values"
    rr = {**ANALYSIS, "measure": "RR", "log_scale": True, "intervention_label": "ketamine", "direction": "Positive values favour ketamine"}
    assert rep.analysis_context(rr, {})["direction"].startswith("Risk ratios above 1 favour ketamine")


def test_reference_review_is_not_claimed_reproduced_and_no_text_is_protocol_specific(tmp_path: Path) -> None:
    # The published review's list of included studies is not public (shared evidence README), so
    # the report cites it as the reference review; and a review without risk_of_bias.tsv is not
    # told that "RoB 2 judgements were not part of the curated evidence" (this project's data source).
    ctx = _context(tmp_path)
    for name in ("report.md.j2", "report.html.j2"):
        out = rep.render(ctx, template=TEMPLATE_DIR / name)
        assert "Reproduces" not in out and f"Reference review: {ctx['review']['reference']}" in out
        assert "curated evidence" not in out
        assert "No risk-of-bias assessment is available for this review (no resources/extraction/risk_of_bias.tsv)" in out


def test_limitations_name_trials_of_fewer_than_50_participants_only() -> None:
    studies = [{"study_id": "Fifty2020", "n_randomized": "50"}, {"study_id": "Small2019", "n_randomized": "49"}, {"study_id": "Big2021", "n_randomized": "120"}]
    direction = [{"study_id": s["study_id"], "numbers": "yes"} for s in studies]
    assert rep.limitations(studies, direction, None) == ["1 trial randomized fewer than 50 participants (Small2019)."]


def test_prediction_interval_of_a_ratio_is_back_transformed() -> None:
    import math

    summary = {"pi_low": math.log(0.5), "pi_high": math.log(2.0)}
    assert rep.prediction_in_words(summary, log_scale=True) == "95% prediction interval 0.50 to 2.00"
    assert rep.prediction_in_words({"pi_low": -1.333, "pi_high": 2.281}, log_scale=False) == "95% prediction interval -1.33 to 2.28"
    assert rep.prediction_in_words({"pi_low": None, "pi_high": None}, log_scale=True).startswith("no prediction interval")


def test_prisma_table_previous_column_is_the_previous_builds_total() -> None:
    """A record of an earlier run decided since the previous version: the previous-version column stays
    what the previous build's table showed; this update carries the decision (awaiting falls)."""
    from test_prisma_counts import _decided_after_first_run

    rows, dates = _decided_after_first_run()
    table = rep.prisma_table(compute_counts(rows, sources=SOURCES, decision_dates=dates), SOURCES)
    before = {r["label"]: r["cells"][0] for r in rep.prisma_table(compute_counts(first_run_ledger(), sources=SOURCES), SOURCES)["rows"]}
    cells = {r["label"]: r["cells"] for r in table["rows"]}
    assert {label: c[0] for label, c in cells.items() if label in before} == before
    assert all(c[0] + c[1] == c[2] for c in cells.values())
    assert cells["Records awaiting a decision (title/abstract)"] == [1, -1, 0]
    assert cells["Reports awaiting a decision (full text)"] == [1, -1, 0]
    assert cells["Studies included"] == [2, 2, 4]
    assert table["decided_before"] == "2025-10-31" and [d["record_id"] for d in table["decided_since"]] == ["pubmed:11", "pubmed:6"]


def test_whats_new_shows_the_primary_pooled_estimate_after_each_run_and_its_change() -> None:
    import math

    primary = {"measure": "RR", "log_scale": True, "by_run": [
        {"run_id": "2025-09-30", "k": 1, "pooled": False, "estimate": None, "ci_low": None, "ci_high": None},
        {"run_id": "2025-10-31", "k": 2, "pooled": True, "estimate": math.log(2.0), "ci_low": math.log(1.25), "ci_high": math.log(3.2)},
        {"run_id": "2025-11-30", "k": 2, "pooled": True, "estimate": math.log(2.0), "ci_low": math.log(1.25), "ci_high": math.log(3.2)},
        {"run_id": "2025-12-31", "k": 3, "pooled": True, "estimate": math.log(1.5), "ci_low": math.log(1.1), "ci_high": math.log(2.05)},
    ]}
    summaries = [{"run_id": e["run_id"], "records_retrieved": 1, "duplicates_of_earlier_runs": 0, "duplicates_within_run": 0, "new_clusters": 1, "awaiting_decision": 0,
                  "new_included_studies": [], "included_studies_total": e["k"]} for e in reversed(primary["by_run"])]
    rows = rep.whats_new(summaries, primary)
    assert [(r["run_id"], r["pooled"]) for r in rows] == [
        ("2025-09-30", "not pooled, k = 1"),
        ("2025-10-31", "RR 2.00 (95% CI 1.25 to 3.20), k = 2; was not pooled, k = 1"),
        ("2025-11-30", "unchanged"),
        ("2025-12-31", "RR 1.50 (95% CI 1.10 to 2.05), k = 3; was RR 2.00 (95% CI 1.25 to 3.20), k = 2"),
    ]
    assert [r["pooled"] for r in rep.whats_new(summaries)] == [""] * 4


def test_whats_new_says_why_an_analysis_with_enough_studies_is_not_pooled() -> None:
    """'not pooled, k = 2' would read as too few studies when min_k is 2: a run that leaves the analysis
    not pooled for another reason (e.g. two scales for a mean difference) gives that reason; too few
    studies stays 'not pooled, k = 1'."""
    scales = "a mean difference needs one scale, the 2 studies used 2 scales (A2020: IES-R; B2021: CAPS-5); see the standardized mean difference analysis"
    primary = {"measure": "MD", "log_scale": False, "by_run": [
        {"run_id": "2025-09-30", "k": 1, "pooled": False, "reason": "k = 1 < 2: too few studies to pool; the study estimate is shown"},
        {"run_id": "2025-10-31", "k": 2, "pooled": False, "reason": scales},
    ]}
    assert rep.pooled_by_run(primary) == {
        "2025-09-30": "not pooled, k = 1",
        "2025-10-31": f"not pooled, k = 2: {scales}; was not pooled, k = 1",
    }


def test_report_captions_name_no_review_and_take_the_intervention_from_the_config() -> None:
    """The captions of `snakemake --report` are workflow code, shared by every protocol: none names the
    default review's drug, condition or scales; the forest and cumulative captions take the
    intervention from synthesis.intervention_label (Snakemake renders captions with Jinja2)."""
    from types import SimpleNamespace

    import jinja2

    def render(text: str, config: dict[str, Any]) -> str:
        return jinja2.Environment().from_string(text).render(snakemake=SimpleNamespace(config=config, wildcards=SimpleNamespace(analysis="a1")))

    captions = sorted((ROOT / "workflow/report").glob("*.rst"))
    assert len(captions) >= 10
    for path in captions:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"ketamine|ptsd|caps-5|ies-r", text, flags=re.IGNORECASE), path.name
        render(text, {})  # every caption renders without a synthesis section too
    for name in ("forest.rst", "cumulative.rst"):
        text = (ROOT / "workflow/report" / name).read_text(encoding="utf-8")
        assert "The direction favouring psilocybin is stated on the plot." in render(text, {"synthesis": {"intervention_label": "psilocybin"}})
        assert "The direction favouring the intervention is stated on the plot." in render(text, {})


def test_snakemake_report_packs_the_figures_and_main_tables_with_captions(default_review: Path, tmp_path: Path) -> None:
    """`snakemake --report report.zip` works and holds the report, every figure and the main tables
    (PRISMA.csv, included studies, effects, effect direction), each with its caption."""
    out = tmp_path / "report.zip"
    run_snakemake(default_review, extra=("--report", str(out)))
    with zipfile.ZipFile(out) as z:
        names = {Path(n).name for n in z.namelist()}
        page = z.read(next(n for n in z.namelist() if n.endswith("/report.html"))).decode("utf-8")
    analyses = [a["id"] for a in yaml.safe_load((default_review / "config/config.yaml").read_text(encoding="utf-8"))["synthesis"]["analyses"]]
    expected = {"index.html", "prisma.svg", "prisma.png", "PRISMA.csv", "included_studies.tsv", "effects.tsv",
                "effect_direction.tsv", "effect_direction.svg", "effect_direction.png"}
    expected |= {f"{a}_{kind}.svg" for a in analyses for kind in ("forest", "cumulative")}
    assert expected - names == set(), f"missing from the Snakemake report: {sorted(expected - names)}"
    for caption in ("PRISMA2020 Shiny app", "Included studies: one row per study", "Effect direction (SWiM) per included study"):
        assert caption in page, caption
    # the forest captions, rendered by Snakemake, name the config's intervention (synthesis.intervention_label)
    label = yaml.safe_load((default_review / "config/config.yaml").read_text(encoding="utf-8"))["synthesis"]["intervention_label"]
    assert f"The direction favouring {label} is stated on the plot." in page

def test_methods_and_pooled_sentence_name_the_knapp_hartung_variant() -> None:
    """Plain HKSJ (metafor test="knha"), the ad hoc variant (test="adhoc") and no HKSJ are worded differently in the
    synthesis methods and in the pooled-result sentence."""
    base = {"id": "a", "title": "A", "domain": "d", "measure": "SMD", "method": "REML"}
    words = {}
    for name, extra in (("adhoc", {"hksj": True, "hksj_adhoc": True}), ("knha", {"hksj": True, "hksj_adhoc": False}), ("z", {"hksj": False, "hksj_adhoc": True})):
        words[name] = rep.synthesis_methods({"analyses": [{**base, **extra}]})[0]
    assert "with the ad hoc correction (its scaling factor is at least 1" in words["adhoc"] and 'metafor test="adhoc"' in words["adhoc"]
    assert "Knapp & Hartung 2003; Röver, Knapp & Friede 2015" in words["adhoc"]
    assert "without the ad hoc correction (it can be smaller than the random-effects standard error" in words["knha"] and 'metafor test="knha"' in words["knha"]
    assert "Knapp-Hartung" not in words["z"] and "normal-theory (Wald) 95% CI" in words["z"]
    pooled = {"analysis": "a", "title": "A", "measure": "SMD", "pooled": True, "method": "REML", "k": 2, "estimate": 0.305, "ci_low": -2.54,
              "ci_high": 3.15, "pi_low": None, "pi_high": None, "tau2": 0.0, "i2": 0.0, "studies": []}
    assert "(REML, Knapp-Hartung, ad hoc correction, k = 2)" in rep.analysis_context({**pooled, "hksj": True, "hksj_adhoc": True}, {})["summary_text"]
    assert "(REML, Knapp-Hartung, no ad hoc correction, k = 2)" in rep.analysis_context({**pooled, "hksj": True, "hksj_adhoc": False}, {})["summary_text"]
    assert "(REML, k = 2)" in rep.analysis_context({**pooled, "hksj": False, "hksj_adhoc": False}, {})["summary_text"]



# --- PRISMA 2020 item 8, PRISMA-S items 4-7 and 16, What's new arithmetic, Markdown parity ---------------------


def _screening_ledger(title_abstract: int, full_text: int) -> list[dict[str, str]]:
    rows = [{"record_id": f"pubmed:{i}", "stage": "title_abstract", "outcome": "included" if i % 2 else "excluded"} for i in range(title_abstract)]
    rows += [{"record_id": f"pubmed:{i}", "stage": "full_text", "outcome": "included"} for i in range(full_text)]
    rows += [{"record_id": "pubmed:99", "stage": "title_abstract", "outcome": "awaiting_decision"}]  # not screened yet
    return rows


def test_default_review_says_who_screened_how_duplicates_went_and_what_else_was_searched(default_review: Path) -> None:
    """PRISMA 2020 item 8 (one reviewer at both stages, from agreement.json, and the limitation it forces),
    PRISMA-S item 16 (duplicates per rule from clusters.tsv, near-matches from maybe_pairs.tsv) and
    other methods (only the archived sources), in both index.html and report.md."""
    import html as html_lib
    import json

    from livingreview import dedup as dd

    html = html_lib.unescape((default_review / "results/report/index.html").read_text(encoding="utf-8"))
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    agreement = json.loads((default_review / "results/screening/agreement.json").read_text(encoding="utf-8"))
    ledger = read_tsv(default_review / "results/audit/ledger.tsv")
    counts = json.loads((default_review / "results/prisma/counts.json").read_text(encoding="utf-8"))
    (reviewer,) = agreement["title_abstract"]["reviewers"]
    assert agreement["full_text"]["reviewers"] == [reviewer] == ["curation (shared/evidence)"]
    screened = counts["records_screened"]
    assessed = sum(1 for r in ledger if r["stage"] == "full_text" and r["outcome"] in ("included", "excluded"))
    assert assessed == counts["dbr_assessed"] and screened == 18
    for text in (html, md):
        assert (f"Title/abstract: one reviewer, {reviewer}, screened every record ({screened} records); "
                "no record was screened by a second, independent reviewer.") in text
        assert (f"Full text: one reviewer, {reviewer}, screened every report ({assessed} reports); "
                "no report was screened by a second, independent reviewer.") in text
        limitations = text[text.index("Limitations"):]
        assert (f"Single-reviewer screening: one reviewer, {reviewer}, screened each record at title/abstract ({screened} records) "
                f"and each report at full text ({assessed} reports), with no independent second reviewer") in limitations
        assert "Cohen's kappa" not in text
        # deduplication: the rules the code applies, with their thresholds, and the duplicates each removed
        by_rule = Counter(r["rule"] for r in read_tsv(default_review / "results/dedup/clusters.tsv")
                          if r["rule"] not in (dd.RULE_CANONICAL, dd.RULE_UNIQUE))
        assert sum(by_rule.values()) == counts["duplicates"] == 51
        for rule in dd.MATCH_RULES:
            threshold = next(v for name, op, v in rule.conditions if name == "title")
            assert re.search(rf"`{rule.id}` \| title similarity (≥ )?{threshold:.2f}.*\| {by_rule.get(rule.id, 0)} \|$"
                             if text is not html else rf"<code>{rule.id}</code></td><td>title similarity (≥ )?{threshold:.2f}.*"
                             rf"<td class=\"n\">{by_rule.get(rule.id, 0)}</td>", text, flags=re.MULTILINE), rule.id
        for rid in (dd.RULE_PMID, dd.RULE_DOI, dd.RULE_HUMAN):
            row = f"| `{rid}` |" if text is not html else f"<code>{rid}</code>"
            line = next(x for x in text.splitlines() if row in x)
            assert line.endswith(f"| {by_rule.get(rid, 0)} |" if text is not html else f'<td class="n">{by_rule.get(rid, 0)}</td></tr>')
        assert by_rule[dd.RULE_DOI] == 43
        maybe = read_tsv(default_review / "results/dedup/maybe_pairs.tsv")
        assert f"Near-matches left to people: {len(maybe)} pair of records not linked automatically ({len(maybe)} below the rules" in text
        assert "Human dedup decisions: none (resources/dedup/decisions.tsv holds no decision)." in text
        assert "title similarity of at least 0.85" in text and f"at least {dd.LONG_TITLE} characters" in text
        assert ("This build searched only PubMed (NCBI E-utilities), Ovid Embase, Ovid APA PsycInfo and ClinicalTrials.gov, "
                "through the archived search runs listed above. No other methods were run by this pipeline: no citation searching") in text


def test_two_reviewers_give_their_kappa_and_a_single_reviewer_stage_is_a_limitation(tmp_path: Path) -> None:
    """agreement.json of two reviewers at title/abstract (the decisions fixture of test_decisions: kappa 0.40
    on 3 shared records) and one at full text: the report gives the kappa as the file holds it, how many
    records both screened, and names only the full-text stage as single-reviewer screening."""
    from livingreview.decisions import agreement, load_decisions, resolve_decisions
    from test_decisions import REASONS, index, row, write

    path = write(
        tmp_path,
        row("900001", reviewer="A"), row("900001", reviewer="B"),
        row("900002", reviewer="A", decision="exclude", reason="other"), row("900002", reviewer="B", decision="exclude", reason="other"),
        row("clinicaltrials:NCT99999901", reviewer="A", decision="exclude", reason="registry_record"),
        row("clinicaltrials:NCT99999901", reviewer="B"),
        row("clinicaltrials:NCT99999901", reviewer="consensus", decision="exclude", reason="registry_record"),
        row("900001", stage="full_text", reviewer="A"),
    )
    result = agreement(resolve_decisions(load_decisions(path, REASONS), index()))
    (pair,) = result["title_abstract"]["pairs"]
    assert f"{pair['kappa']:.2f}" == "0.40" and pair["n"] == 3
    out = rep.screening_reviewers(result, _screening_ledger(3, 1))
    ta, ft = out["stages"]
    assert ta["text"] == (
        "Title/abstract: 3 records screened by 2 reviewers (A, B), independently: each reviewer's decision is a row of its own in "
        "resources/screening/decisions.tsv, a disagreement is settled by a consensus (resolution) row, and agreement compares each "
        "reviewer's first decision, made before any discussion changed it. A and B both screened all 3 records: Cohen's kappa 0.40; "
        "they agreed on 2 of 3. 1 record awaits a decision.")
    assert ft["text"] == "Full text: one reviewer, A, screened every report (1 report); no report was screened by a second, independent reviewer."
    assert out["limitations"] == [
        "Single-reviewer screening: one reviewer, A, screened each report at full text (1 report), with no independent second reviewer; "
        "single screening is known to miss eligible studies that independent dual screening finds, so studies may have been missed."]
    # more records screened than both reviewers decided: the rest had one reviewer
    partial = rep.screening_reviewers(result, _screening_ledger(5, 1))["stages"][0]["text"]
    assert partial.endswith("A and B both screened 3 of the 5 records: Cohen's kappa 0.40; they agreed on 2 of 3. "
                            "The other 2 records were screened by one reviewer only. 1 record awaits a decision.")
    # rendered: the screening section and the limitations of both formats
    ctx = _context(tmp_path)
    ctx["screening_reviewers"] = out["stages"]
    ctx["limitations"] = out["limitations"]
    for template in ("report.html.j2", "report.md.j2"):
        text = rep.render(ctx, template=TEMPLATE_DIR / template).replace("&#39;", "'")
        assert "Cohen's kappa 0.40; they agreed on 2 of 3." in text
        assert "Single-reviewer screening: one reviewer, A, screened each report at full text" in text
        assert "each record at title/abstract" not in text


def test_a_later_team_dual_screening_only_new_records_leaves_the_rest_single_screened(tmp_path: Path) -> None:
    """A living review whose first version one reviewer screened, and whose update two reviewers screen
    independently: three reviewers at title/abstract, but only the update's record had two. The report
    must say the others had one reviewer and keep the single-screening limitation (it said '3 records
    screened by 3 reviewers, independently' and dropped the limitation)."""
    from livingreview.decisions import agreement, load_decisions, resolve_decisions
    from test_decisions import REASONS, index, row, write

    path = write(
        tmp_path,
        row("900001", reviewer="curation"), row("900002", reviewer="curation", decision="exclude", reason="other"),
        row("clinicaltrials:NCT99999901", reviewer="A", date="2025-11-01"),
        row("clinicaltrials:NCT99999901", reviewer="B", decision="exclude", reason="registry_record", date="2025-11-01"),
        row("clinicaltrials:NCT99999901", reviewer="consensus", date="2025-11-02"),
        row("900001", stage="full_text", reviewer="curation"),
    )
    result = agreement(resolve_decisions(load_decisions(path, REASONS), index()))
    assert result["title_abstract"]["reviewers"] == ["A", "B", "curation"]
    assert result["title_abstract"]["screened_by_two_or_more"] == 1 and result["full_text"]["screened_by_two_or_more"] == 0
    out = rep.screening_reviewers(result, _screening_ledger(3, 1))
    ta = out["stages"][0]["text"]
    assert ta.startswith("Title/abstract: 3 records screened by 3 reviewers (A, B, curation)")
    assert "A and B both screened 1 of the 3 records: Cohen's kappa 0.00; they agreed on 0 of 1." in ta
    assert "The other 2 records were screened by one reviewer only." in ta
    assert out["limitations"] == [
        "Single-reviewer screening: one reviewer screened 2 of the 3 records at title/abstract and each report at full text (1 report), "
        "with no independent second reviewer; single screening is known to miss eligible studies that independent dual screening "
        "finds, so studies may have been missed."]
    # two reviewers who shared some records only: the rest is single screening, a limitation too
    two = {"reviewers": ["A", "B"], "pairs": [{"reviewers": ["A", "B"], "n": 3, "agreement": 1.0, "kappa": 1.0}], "screened_by_two_or_more": 3}
    out = rep.screening_reviewers({"title_abstract": two, "full_text": two}, _screening_ledger(5, 3))
    assert out["limitations"][0].startswith("Single-reviewer screening: one reviewer screened 2 of the 5 records at title/abstract, with no")
    # three reviewers, overlapping pairs: the records two decided count once, not once per pair
    three = {"reviewers": ["A", "B", "C"], "screened_by_two_or_more": 2,
             "pairs": [{"reviewers": ["A", "B"], "n": 2, "agreement": 1.0, "kappa": 1.0}, {"reviewers": ["A", "C"], "n": 2, "agreement": 1.0, "kappa": 1.0},
                       {"reviewers": ["B", "C"], "n": 2, "agreement": 1.0, "kappa": 1.0}]}
    out = rep.screening_reviewers({"title_abstract": three, "full_text": two}, _screening_ledger(5, 3))
    assert "The other 3 records were screened by one reviewer only." in out["stages"][0]["text"]


def test_kappa_undefined_and_no_shared_records_are_said_so() -> None:
    no_variation = {"reviewers": ["A", "B"], "computable": False, "why": "kappa undefined for every pair (no variation in decisions)",
                    "pairs": [{"reviewers": ["A", "B"], "n": 2, "agreement": 1.0, "kappa": None,
                               "why": "both reviewers gave one and the same decision to every shared record (chance agreement is 1)"}]}
    apart = {"reviewers": ["A", "B"], "computable": False, "why": "2 reviewers but no record decided by two of them", "pairs": []}
    out = rep.screening_reviewers({"title_abstract": no_variation, "full_text": apart}, _screening_ledger(2, 2))
    assert out["stages"][0]["text"].endswith("A and B both screened all 2 records: Cohen's kappa not defined (both reviewers "
                                             "gave one and the same decision to every shared record (chance agreement is 1)); they agreed on 2 of 2. "
                                             "1 record awaits a decision.")
    assert out["stages"][1]["text"].endswith("No report was screened by two of them (2 reviewers but no record decided by two of them).")
    assert out["limitations"][0].startswith("Single-reviewer screening: one reviewer, A or B, screened each report at full text (2 reports)")
    with pytest.raises(InputFormatError, match=r"results/screening/agreement.json: stage 'full_text' lacks its 'reviewers' or 'pairs'"):
        rep.screening_reviewers({"title_abstract": apart}, [])


def test_dedup_paragraph_is_read_from_the_rules_the_ledger_and_the_decisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from livingreview import dedup as dd

    ledger = [{"record_id": f"r{i}", "stage": "dedup", "outcome": "duplicate", "reason": rule}
              for i, rule in enumerate(["doi", "doi", "pmid", "F1", "human_link"])]
    ledger += [{"record_id": "r9", "stage": "dedup", "outcome": "canonical", "reason": "canonical"},
               {"record_id": "r9", "stage": "title_abstract", "outcome": "excluded", "reason": "doi"}]
    maybe = [{"record_a": "a", "record_b": "b", "rule": "below rules"}, {"record_a": "c", "record_b": "d", "rule": "F3 refused: two DOIs"},
             {"record_a": "e", "record_b": "f", "rule": "below rules"}]
    decisions = tmp_path / "decisions.tsv"
    decisions.write_text("record_a\trecord_b\tdecision\treviewer\tdate\tnote\n"
                         "pubmed:1\tembase:2\tlink\tA\t2025-10-01\t\npubmed:3\tembase:4\tkeep_apart\tA\t2025-10-01\t\n", encoding="utf-8")
    config = {"dedup": {"decisions": "resources/dedup/decisions.tsv"}}
    out = rep.deduplication(config, ledger, maybe, decisions)
    removed = {r["id"]: r["removed"] for r in out["rules"]}
    assert removed == {"human_link": 1, "pmid": 1, "doi": 2, **{r.id: int(r.id == "F1") for r in dd.MATCH_RULES}}
    assert out["removed_total"] == 5
    assert out["left"] == ("Near-matches left to people: 3 pairs of records not linked automatically (2 below the rules, 1 matching a rule "
                           "or identifier but refused), listed in results/dedup/maybe_pairs.tsv for a person to decide. Human dedup decisions: "
                           "2 in resources/dedup/decisions.tsv (1 link, 1 keep apart).")
    assert rep.deduplication(config, [], [], tmp_path / "absent.tsv")["left"] == (
        "Near-matches left to people: none (results/dedup/maybe_pairs.tsv is empty). Human dedup decisions: none "
        "(resources/dedup/decisions.tsv is absent).")
    # the thresholds are the code's: change a rule and the report follows
    f1 = dd.MATCH_RULES[0]
    changed = dd.MatchRule(f1.id, f1.description, (("title", ">=", 0.91), *f1.conditions[1:]))
    monkeypatch.setattr(dd, "MATCH_RULES", (changed, *dd.MATCH_RULES[1:]))
    row = next(r for r in rep.deduplication(config, ledger, maybe, None)["rules"] if r["id"] == "F1")
    assert row["what"].startswith("title similarity ≥ 0.91; numbers in the titles same; year same or adjacent; first author same")


def test_other_methods_follow_the_config() -> None:
    search = {"sources": [{"database": "pubmed", "platform": "PubMed", "kind": "database", "archived": [{}]},
                          {"database": "cinahl", "platform": "EBSCO CINAHL", "kind": "database", "archived": []}]}
    assert rep.other_methods(search)["text"] == (
        "This build searched only PubMed, through the archived search runs listed above; EBSCO CINAHL is in config/config.yaml but "
        "not yet searched. No other methods were run by this pipeline: no citation searching (reference lists or citing articles), "
        "no contacting of authors, experts or manufacturers, no browsing of websites (config/config.yaml declares no source of kind other).")
    search["sources"].append({"database": "citations", "platform": "Reference lists of included studies", "kind": "other", "archived": [{}]})
    text = rep.other_methods(search)["text"]
    assert "Other methods: only the sources config/config.yaml declares of kind other (Reference lists of included studies)" in text
    assert "No other methods were run" not in text and "This build searched only PubMed and Reference lists of included studies" in text


def test_whats_new_parts_add_up_to_the_records_retrieved(default_review: Path) -> None:
    import json

    (path,) = sorted((default_review / "results/update").glob("*/summary.json"))
    s = json.loads(path.read_text(encoding="utf-8"))
    assert s["records_retrieved"] == s["duplicates_of_earlier_runs"] + s["duplicates_within_run"] + s["new_clusters"]
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    html = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    cells = [s["run_id"], s["records_retrieved"], s["duplicates_of_earlier_runs"], s["duplicates_within_run"], s["new_clusters"]]
    assert "| " + " | ".join(str(c) for c in cells) + " |" in md and cells[1:] == [112, 0, 51, 61]
    assert "<td>{}</td>".format(cells[0]) + "".join(f'<td class="n">{c}</td>' for c in cells[1:]) in html
    for text in (md, html):
        assert "Duplicates within this run" in text
        assert "Records retrieved = already seen (duplicates of records of earlier runs) + duplicates within the same run + new records" in text
    bad = {**s, "duplicates_within_run": 50}
    with pytest.raises(InputFormatError, match=rf"results/update/{s['run_id']}/summary.json: run {s['run_id']}: 112 records retrieved, but already seen"):
        rep.whats_new([bad])


def _html_tables(html: str) -> list[list[str]]:
    """The header row (th cells) of every HTML table that has one."""
    out = []
    for table in re.findall(r"<table[^>]*>(.*?)</table>", html, flags=re.DOTALL):
        first = re.search(r"<tr>(.*?)</tr>", table, flags=re.DOTALL)
        cells = re.findall(r"<t([hd])[^>]*>(.*?)</t[hd]>", first.group(1), flags=re.DOTALL) if first else []
        if cells and all(kind == "h" for kind, _ in cells) and len(cells) >= 2:
            out.append([re.sub(r"<[^>]+>", "", text).strip() for _, text in cells])
    return out


def test_markdown_has_every_table_column_and_figure_of_the_html(default_review: Path) -> None:
    """Parity: each HTML table's columns are a Markdown table header, each HTML figure (forest, cumulative,
    effect direction) is a Markdown image, and the Arms column holds each study's arms."""
    import html as html_lib

    html = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    md_headers = [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]
    tables = _html_tables(html)
    assert len(tables) >= 7
    for header in tables:
        assert [html_lib.unescape(c) for c in header] in md_headers, header
    alts = [html_lib.unescape(a) for a in re.findall(r'<img alt="([^"]+)"', html)]
    analyses = [a["id"] for a in yaml.safe_load((default_review / "config/config.yaml").read_text(encoding="utf-8"))["synthesis"]["analyses"]]
    assert sum(a.startswith("Cumulative plot") for a in alts) == len(analyses) == 3
    md_alts = [html_lib.unescape(a) for a in re.findall(r"!\[([^\]]+)\]\(", md)]
    assert [a for a in alts if a not in md_alts] == []
    for a in analyses:
        assert f"](../synthesis/{a}_cumulative.svg)" in md and (default_review / f"results/synthesis/{a}_cumulative.svg").exists()
    header = next(h for h in md_headers if h[:4] == ["Study", "Design", "Randomized", "Arms"])
    for s in read_tsv(default_review / "results/studies/included_studies.tsv"):
        line = next(x for x in md.splitlines() if x.startswith(f"| {s['study_id']} | ") and len(x.split(" | ")) >= len(header))
        assert line.split(" | ")[3] == rep.md_inline(s["n_per_arm"]), s["study_id"]


def test_reporting_bias_in_words_funnel_and_egger() -> None:
    drawn = {"k": 11, "funnel": {"drawn": True, "reason": None},
             "egger": {"run": True, "k": 11, "t": 2.3456, "df": 9, "p": 0.04378, "limit_estimate": -0.1234}}
    assert rep.reporting_bias_in_words(drawn) == (
        "Funnel plot: drawn from 11 studies (below). Egger's test (metafor regtest, model \"lm\"): t = 2.35, df = 9, p = 0.044; limit estimate -0.12.")
    small = {"k": 2, "funnel": {"drawn": False, "reason": "k = 2 < 3: a funnel plot needs at least 3 studies"},
             "egger": {"run": False, "k": 2, "reason": "k = 2 < 10: Egger's test has too little power to tell small-study effects from chance"}}
    assert rep.reporting_bias_in_words(small) == (
        "Funnel plot: not drawn (k = 2 < 3: a funnel plot needs at least 3 studies). "
        "Egger's test: not run (k = 2 < 10: Egger's test has too little power to tell small-study effects from chance).")
    ctx = rep.analysis_context({**drawn, "analysis": "a", "studies": []}, {"funnel": "data:image/svg+xml;base64,AA=="})
    assert ctx["funnel_drawn"] is True and ctx["reporting_bias"].startswith("Funnel plot: drawn")
    assert rep.analysis_context({**small, "analysis": "a", "studies": []}, {"funnel": "data:x"})["funnel_drawn"] is False


def test_who_screened_does_not_say_every_record_while_some_await_a_decision() -> None:
    """A monthly update leaves records awaiting a title/abstract decision; PRISMA counts them as screened
    (records screened 19 = 18 decided + 1 awaiting), so 'one reviewer screened every record (18 records)'
    was false beside it. The sentence says every record decided so far, and how many await a decision."""
    one = {"reviewers": ["A"], "pairs": []}
    ledger = _screening_ledger(18, 2) + [{"record_id": "pubmed:98", "stage": "title_abstract", "outcome": "awaiting_decision"},
                                         {"record_id": "pubmed:97", "stage": "full_text", "outcome": "awaiting_decision"}]
    ta, ft = rep.screening_reviewers({"title_abstract": one, "full_text": one}, ledger)["stages"]
    assert ta["text"] == ("Title/abstract: one reviewer, A, screened every record decided so far (18 records); "
                          "no record was screened by a second, independent reviewer. 2 records await a decision.")
    assert ft["text"] == ("Full text: one reviewer, A, screened every report decided so far (2 reports); "
                          "no report was screened by a second, independent reviewer. 1 report awaits a decision.")
    # nothing awaiting: the sentence as before
    no_wait = [r for r in ledger if r["outcome"] != "awaiting_decision"]
    assert rep.screening_reviewers({"title_abstract": one, "full_text": one}, no_wait)["stages"][0]["text"] == (
        "Title/abstract: one reviewer, A, screened every record (18 records); no record was screened by a second, independent reviewer.")


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-C", str(repo), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_is_named_when_another_user_owns_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clone owned by another user (a shared lab folder, a container's bind mount) makes git refuse
    with "dubious ownership"; the report must still name the commit, as it does for the owner."""
    repo = tmp_path / "code"
    (repo / "workflow").mkdir(parents=True)
    (repo / "workflow" / "x.py").write_text("x = 1\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "workflow/x.py")
    _git(repo, "commit", "-q", "-m", "x")
    head = _git(repo, "rev-parse", "HEAD")
    assert rep.git_commit(repo / "workflow") == head
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")  # git's own switch for "owned by someone else"
    assert rep.git_commit(repo / "workflow") == head
    (repo / "workflow" / "x.py").write_text("x = 2\n", encoding="utf-8")
    assert rep.git_commit(repo / "workflow") == f"{head} + uncommitted changes"


def test_pooled_results_give_heterogeneity_subgroup_tests_and_leave_one_out(tmp_path: Path) -> None:
    """The methods promise tau² with its Q-profile CI, Cochran's Q, subgroup analyses with a test for subgroup
    differences and leave-one-out (PRISMA 2020 items 20b-20d): the results give each of them, with the
    numbers of the analysis JSON, in report.md and index.html (not only in the forest plot's footer,
    which shows one subgroup analysis at most)."""
    from livingreview.effects import Effect
    from livingreview.extraction import Study
    from livingreview.meta import analyse

    def study(sid: str, year: int, infusions: str, comparator_type: str) -> Study:
        return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="",
                     n_randomized=30, n_per_arm="", dose=(0.5,), infusions=infusions, infusion_schedule="", comparator="c",
                     comparator_type=comparator_type, co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)

    eff = [Effect(s, "sev", "SMD", y, v, "", scale="CAPS-5", n_intervention=15, n_control=15)
           for s, y, v in (("A", 0.2, 0.05), ("B", 0.9, 0.08), ("C", 0.5, 0.04), ("D", 1.1, 0.1))]
    studies = [study("A", 2019, "single", "active"), study("B", 2015, "repeated", "active"), study("C", 2020, "single", "inactive"),
               study("D", 2018, "repeated", "active")]
    summary = analyse({"id": "sev", "title": "Severity", "primary": True, "domain": "ptsd_severity", "measure": "SMD", "method": "REML",
                       "hksj": True, "hksj_adhoc": True, "subgroups": ["infusions", "comparator_type", "dose"]}, eff, studies,
                      direction_note="Positive values favour ketamine")
    summary["intervention_label"] = "ketamine"
    a = rep.analysis_context(summary, {})
    two = lambda x: rep.number(x)  # noqa: E731
    assert (f"tau² {rep.number(summary['tau2'], 3)} (95% CI {rep.number(summary['tau2_ci_low'], 3)} to {rep.number(summary['tau2_ci_high'], 3)})"
            in a["summary_text"])
    assert f"Q = {two(summary['q'])} (df = 3, p = {rep.number(summary['q_p'], 3)})" in a["summary_text"]
    infusions, comparator, dose = (summary["subgroups"][c] for c in ("infusions", "comparator_type", "dose"))
    assert infusions["run"] and comparator["run"] and not dose["run"]
    rep_g = infusions["groups"]["repeated"]
    expected = [
        (f"Subgroups by single or repeated infusions: repeated {two(rep_g['estimate'])} (95% CI {two(rep_g['ci_low'])} to {two(rep_g['ci_high'])}; k = 2); "
         f"single {two(infusions['groups']['single']['estimate'])}"),
        f"test for subgroup differences Q = {two(infusions['q_between'])}, df = 1, p = {rep.number(infusions['p'], 3)}",
        f"test for subgroup differences Q = {two(comparator['q_between'])}, df = 1, p = {rep.number(comparator['p'], 3)}",
        # the subgroup CIs are Knapp-Hartung; the test used each subgroup's Wald SE, and says so
        "p = 0.016 (from each subgroup",
        "Wald standard error, not the Knapp-Hartung one of its CI).",
        "Subgroups by dose: not run (all studies in one subgroup (0.5)).",
    ]
    # infusions: repeated = B, D and single = A, C, the metafor reference's Knapp-Hartung example (Q = 5.81, not 12.06)
    ref = json.loads((ROOT / "tests/data/metafor_reference.json").read_text(encoding="utf-8"))["synthetic"]["subgroups_knha_example"]["REML_adhoc"]
    assert abs(infusions["q_between"] - ref["q_between"]) <= 1e-6 * ref["q_between"] and two(infusions["q_between"]) == "5.81"
    lines = " ".join(a["subgroups"])
    assert "p = 0.016 (from each subgroup's Wald standard error, not the Knapp-Hartung one of its CI)." in lines
    for text in expected:
        assert text in lines, (text, lines)
    loo = summary["leave_one_out"]
    low, high = min(loo, key=lambda r: r["estimate"]), max(loo, key=lambda r: r["estimate"])
    assert a["sensitivity"] == (f"Leave-one-out: the pooled estimate ranged from {two(low['estimate'])} (without {low['omitted']}) "
                                f"to {two(high['estimate'])} (without {high['omitted']}).")
    ctx = _context(tmp_path, analysis=summary)
    md = rep.render(ctx, template=TEMPLATE_DIR / "report.md.j2")
    html = rep.render(ctx, template=TEMPLATE_DIR / "report.html.j2")
    for text in expected + [a["sensitivity"], f"Q = {two(summary['q'])} (df = 3"]:
        assert text in md and text in html, text


def test_a_multi_dose_subgroup_reads_as_one_subgroup_in_the_results() -> None:
    """A study of two doses is one dose subgroup; its label stands in a sentence whose subgroups are
    separated by "; ", so the doses are joined by "and" ("0.2; 0.5 mg/kg" read as two subgroups)."""
    from livingreview.effects import Effect
    from livingreview.extraction import Study
    from livingreview.meta import analyse

    def study(sid: str, d: tuple[float, ...]) -> Study:
        return Study(study_id=sid, reports=("1",), primary_report="1", year=2015, design="parallel", crossover=False, population="",
                     n_randomized=30, n_per_arm="", dose=d, infusions="single", infusion_schedule="", comparator="c",
                     comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)

    assert study("S", (0.2, 0.5, 1.0)).dose_label("mg/kg") == "0.2, 0.5 and 1 mg/kg"
    assert study("S", (0.2, 0.5)).dose_label() == "0.2 and 0.5"
    assert study("S", (0.5,)).dose_label("mg/kg") == "0.5 mg/kg" and study("S", ()).dose_label("mg/kg") == "not reported"
    doses = [(0.5,), (0.5,), (0.2, 0.5), (0.2, 0.5)]
    eff = [Effect(f"S{k}", "sev", "SMD", y, v, "", scale="CAPS-5", n_intervention=15, n_control=15)
           for k, (y, v) in enumerate([(0.8, 0.1), (0.5, 0.12), (0.3, 0.09), (0.6, 0.15)])]
    analysis = {"id": "sev", "title": "Severity", "primary": True, "domain": "ptsd_severity", "measure": "SMD", "method": "REML",
                "hksj": True, "hksj_adhoc": True, "subgroups": ["dose"]}
    summary = analyse(analysis, eff, [study(f"S{k}", d) for k, d in enumerate(doses)], direction_note="Positive values favour ketamine",
                      dose_unit="mg/kg")
    assert sorted(summary["subgroups"]["dose"]["groups"]) == ["0.2 and 0.5 mg/kg", "0.5 mg/kg"]
    [line] = rep.analysis_context(summary, {})["subgroups"]
    assert line.startswith("Subgroups by dose: 0.2 and 0.5 mg/kg "), line
    assert "; 0.5 mg/kg " in line and "; k = 2); 0.5 mg/kg " in line and "0.2; 0.5" not in line, line


def test_results_and_methods_say_studies_with_no_subgroup_value_are_not_in_the_test(tmp_path: Path) -> None:
    """A study with no dose is shown in a 'dose not reported' subgroup, which the report marks as not in the
    test; the test (metafor's Q over the reported doses, tests/data/metafor_reference.json) says which studies
    are out; with one reported dose there is no test and the report says why. The methods state the test."""
    from livingreview.effects import Effect
    from livingreview.extraction import Study
    from livingreview.meta import analyse

    ref = json.loads((ROOT / "tests/data/metafor_reference.json").read_text(encoding="utf-8"))["synthetic"]["subgroups_not_reported"]["REML_adhoc"]
    ids = [f"S{i + 1}" for i in range(8)]
    dose = {"a": (0.2,), "b": (0.5,), "c": (1.0,), None: ()}

    def study(sid: str, year: int, d: tuple[float, ...]) -> Study:
        return Study(study_id=sid, reports=("1",), primary_report="1", year=year, design="parallel", crossover=False, population="",
                     n_randomized=30, n_per_arm="", dose=d, infusions="single", infusion_schedule="", comparator="c",
                     comparator_type="active", co_intervention="", registration="", inferred_fields=(), notes="", source="", line=2)

    eff = [Effect(sid, "sev", "SMD", y, v, "", scale="CAPS-5", n_intervention=15, n_control=15) for sid, y, v in zip(ids, ref["yi"], ref["vi"])]
    analysis = {"id": "sev", "title": "Severity", "primary": True, "domain": "ptsd_severity", "measure": "SMD", "method": "REML",
                "hksj": True, "hksj_adhoc": True, "subgroups": ["dose"]}
    summary = analyse(analysis, eff, [study(sid, 2010 + i, dose[g]) for i, (sid, g) in enumerate(zip(ids, ref["groups_of_studies"]))],
                      direction_note="Positive values favour ketamine", dose_unit="mg/kg")
    summary["intervention_label"] = "ketamine"
    sub = summary["subgroups"]["dose"]
    assert abs(sub["q_between"] - ref["q_between"]) <= 1e-6 * ref["q_between"] and sub["df"] == 2
    nr = sub["groups"]["not reported"]
    [line] = rep.analysis_context(summary, {})["subgroups"]
    assert line.startswith("Subgroups by dose: 0.2 mg/kg ")
    assert (f"; 1 mg/kg {rep.number(ref['groups']['c']['estimate'])} (95% CI {rep.number(ref['groups']['c']['ci_low'])} to "
            f"{rep.number(ref['groups']['c']['ci_high'])}; k = 1); dose not reported {rep.number(nr['estimate'])} "
            f"(95% CI {rep.number(nr['ci_low'])} to {rep.number(nr['ci_high'])}; k = 2; not in the test); ") in line
    assert line.endswith(f"test for subgroup differences Q = {rep.number(ref['q_between'])}, df = 2, p = {rep.number(ref['p'], 3)} "
                         "(from each subgroup's Wald standard error, not the Knapp-Hartung one of its CI); "
                         "k = 2 studies with no dose reported are not in the test.")
    ctx = _context(tmp_path, analysis=summary)
    for template in ("report.md.j2", "report.html.j2"):
        assert "k = 2 studies with no dose reported are not in the test." in rep.render(ctx, template=TEMPLATE_DIR / template)
    # one reported dose beside the studies with none: both shown, no test, and why
    one = analyse(analysis, eff, [study(sid, 2010 + i, (0.5,) if g else ()) for i, (sid, g) in enumerate(zip(ids, ref["groups_of_studies"]))],
                  dose_unit="mg/kg")
    [line] = rep.analysis_context(one, {})["subgroups"]
    assert line.endswith("; k = 2; not in the test); no test for subgroup differences (one subgroup with a reported dose (0.5 mg/kg), "
                         "and a test for subgroup differences needs at least 2; k = 2 studies with no dose reported are not in the test).")
    # the methods state the test and what happens to studies with no value (the shipped config: Knapp-Hartung everywhere)
    methods = " ".join(_context(tmp_path)["synthesis_methods"])
    assert ("with a test for subgroup differences (Q-between: a fixed-effect Q across the subgroup estimates, τ² estimated separately "
            "within each subgroup, each estimate with its Wald standard error, not the Knapp-Hartung one of the subgroup CI, which holds "
            "only with its t(k − 1) quantile; Cochrane Handbook 10.11.3.1); studies with no value for the subgroup variable are shown as "
            "a 'not reported' subgroup and are not in the test.") in methods
    plain = " ".join(rep.synthesis_methods({"analyses": [{**analysis, "hksj": False, "method": "FE"}]}))
    assert "each estimate with its Wald standard error; Cochrane" in plain and "Knapp-Hartung" not in plain and "τ² estimated separately" not in plain


def test_synthesis_methods_say_how_the_prediction_interval_and_i2_are_computed(tmp_path: Path) -> None:
    """A prediction interval can use a normal, t(k-1) or t(k-2) quantile, and I² can come from Q or from tau²
    (Cochrane's 2024 random-effects methods name both choices): the methods say which meta.pool computes,
    t(k - 2) with the model's SE (Higgins, Thompson & Spiegelhalter 2009) and I² from the estimated tau²."""
    import math

    from livingreview.meta import pool

    text = " ".join(_context(tmp_path)["synthesis_methods"])
    assert "95% prediction interval (estimate ± t(k − 2) × √(SE² + τ²); Higgins, Thompson & Spiegelhalter 2009)" in text
    assert "I² computed from τ²" in text
    res = pool([0.1, 0.5, 0.9, 0.2], [0.04, 0.05, 0.03, 0.06], method="REML", hksj=True, hksj_adhoc=True)
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * math.sqrt(res.se**2 + res.tau2)
    assert (res.pi_low, res.pi_high) == pytest.approx((res.estimate - half, res.estimate + half))


def test_git_commit_never_trusts_a_repository_another_user_made_above_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the code without its own .git (a downloaded archive) inside a repository another user
    made (a shared /tmp): git must keep its "dubious ownership" refusal there, or that repository's
    config (core.fsmonitor) runs a command as the user and its commit is named as the code's."""
    outer = tmp_path / "shared"
    code = outer / "download" / "livingreview"
    (code / "workflow").mkdir(parents=True)
    (code / "workflow" / "x.py").write_text("x = 1\n", encoding="utf-8")
    _git(outer, "init", "-q")
    _git(outer, "commit", "-q", "--allow-empty", "-m", "someone else's")
    marker = tmp_path / "ran"
    _git(outer, "config", "core.fsmonitor", f"touch {marker}; false")
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")  # git's own switch for "owned by someone else"
    assert rep.git_commit(code / "workflow") == "not available"
    assert not marker.exists()


def _svg_texts(path: Path) -> list[str]:
    """The text elements of a matplotlib SVG in document order (U+2212 minus read as '-')."""
    import html

    return [html.unescape(t).replace("\u2212", "-") for t in re.findall(r"<text[^>]*>(.*?)</text>", path.read_text(encoding="utf-8"), re.S)]


def test_forest_and_cumulative_plots_show_the_numbers_the_report_writes(default_review: Path) -> None:
    """Each study's estimate and 95% CI read the same in report.md and in its forest and cumulative plots.
    The SMD of Feder2021 has a CI limit on a rounding tie (1.13 + 0.775 from the reported CI 0.36 to 1.91):
    drawn from the unrounded float the plot read 1.90 while the report, from the JSON, read 1.91."""
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    synthesis = default_review / "results/synthesis"
    compared = 0
    for path in sorted(synthesis.glob("*.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        forest = _svg_texts(synthesis / f"{summary['analysis']}_forest.svg")
        cumulative = _svg_texts(synthesis / f"{summary['analysis']}_cumulative.svg")
        for s in summary["studies"]:
            found = re.findall(rf"^- {re.escape(s['study'])}: [a-z ]+ (-?[\d.]+) \(95% CI (-?[\d.]+) to (-?[\d.]+)\) on ", md, re.M)
            shown = [f for f in found if f[0] == format(math.exp(s["yi"]) if summary["log_scale"] else s["yi"], ".2f")]
            assert len(shown) == 1, (summary["analysis"], s["study"], found)
            est, lo, hi = shown[0]
            assert f"{est} [{lo}, {hi}]" in forest, (summary["analysis"], s["study"], shown[0], [t for t in forest if "[" in t])
            assert f"{est} [{lo}, {hi}]" in cumulative, (summary["analysis"], s["study"], shown[0])
            compared += 1
    assert compared == 4  # Feder2014 and Feder2021 (MD), Feder2021 (SMD, RR)


def test_an_unpooled_analysis_says_its_configured_subgroup_analyses_were_not_run(default_review: Path) -> None:
    """The methods promise subgroup analyses (by infusions, dose, comparator type); an analysis that is not
    pooled says in its results section that they were not run and why, in report.md and index.html,
    instead of passing over them. The columns come from the config, the reason from the analysis JSON."""
    config = yaml.safe_load((default_review / "config/config.yaml").read_text(encoding="utf-8"))
    md = (default_review / "results/report/report.md").read_text(encoding="utf-8")
    html_text = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    methods = md[md.index("## Synthesis methods"):md.index("## Results")]
    sections = re.split(r"^### ", md[md.index("## Results"):md.index("### Effect direction")], flags=re.M)[1:]
    checked = 0
    for analysis in config["synthesis"]["analyses"]:
        summary = json.loads((default_review / f"results/synthesis/{analysis['id']}.json").read_text(encoding="utf-8"))
        columns = sorted(analysis.get("subgroups") or [])
        # each column in words (constants.column_label, config synthesis.subgroup_labels), never its name
        labels = ", ".join(column_label(c, config["synthesis"].get("subgroup_labels")) for c in columns)
        assert [summary["subgroups"][c]["label"] for c in columns] == labels.split(", ") and "_" not in labels
        assert columns and f"subgroup analyses by {labels} with" in methods
        if summary["pooled"]:
            continue
        section = next(s for s in sections if s.removeprefix("Primary analysis: ").startswith(summary["title"]))  # report.md holds plain characters
        reasons = {summary["subgroups"][c]["reason"] for c in columns}
        assert reasons == {"analysis not pooled"}
        sentence = f"Subgroups by {labels}: not run (analysis not pooled)."
        assert section.count(sentence) == 1, section[:400]
        assert html_text.count(f'<p class="subgroups">{sentence}</p>') == 3  # the shipped analyses share their subgroup columns
        checked += 1
    assert checked == 3  # none of the shipped analyses is pooled
