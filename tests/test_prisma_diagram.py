"""PRISMA 2020 diagram: every count drawn, text wrapped inside its box, hostile text escaped, PNG bytes stable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from lxml import etree

from livingreview.prisma import compute_counts
from livingreview.prisma_diagram import PAD, layout, render_svg, run_prisma_diagram, text_width
from test_prisma_counts import SOURCES, _decided_after_first_run, first_run_ledger, second_run_ledger

SVG_NS = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> str:
    root = etree.fromstring(svg.encode("utf-8"))
    return " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text")).replace("\u00a0", " ")


def test_every_count_is_drawn_and_previous_column_only_with_earlier_runs() -> None:
    one = compute_counts(first_run_ledger(), sources=SOURCES)
    text = _texts(render_svg(one))
    for key in ("records_screened", "records_excluded", "dbr_sought_reports", "dbr_assessed", "new_studies", "new_reports"):
        assert f"(n = {one[key]})" in text, key
    for d in one["dbr_excluded"] + one["database_specific_results"]:
        assert f"(n = {d['n']})" in text and (d.get("reason") or d.get("label")).split()[0] in text
    assert "Previous studies" not in text
    two = compute_counts(second_run_ledger(), sources=SOURCES)
    text2 = _texts(render_svg(two))
    assert "Previous studies" in text2
    assert f"Total studies included in review (n = {two['total_studies']})" in text2


def test_lines_fit_inside_their_boxes() -> None:
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    counts["dbr_excluded"] = [{"reason": "A very long reason for excluding a report that must wrap over several lines of the box", "n": 1}]
    drawing = layout(counts)
    for box in drawing["boxes"]:
        for line in box.lines:
            assert line.x + text_width(line.text, bold=line.bold) <= box.x + box.w - PAD + 0.5, (box.id, line.text)
            assert box.y < line.y < box.y + box.h
    excluded = next(b for b in drawing["boxes"] if b.id == "reports_excluded")
    assert len(excluded.lines) >= 3


def test_a_long_unbroken_label_is_split_with_a_few_measurements_per_line(monkeypatch) -> None:
    """A label with no space (a URL as a reason's label) was split by measuring every shorter head of
    the whole rest of it for each line: 1,000 characters took 12 s and a few thousand minutes, while
    the diagram job held up the build. Now the split is the same, found with a few measurements."""
    import livingreview.prisma_diagram as pd

    label = "https://example.org/" + "".join(f"segment{i:04d}-" for i in range(40))  # 460 characters, no space
    calls: list[int] = []

    def counted(text: str, **kw: object) -> float:
        calls.append(len(text))
        return text_width(text, **kw)

    monkeypatch.setattr(pd, "text_width", counted)
    lines = pd.wrap(f"Excluded: {label}", 200)
    assert lines[0] == "Excluded:" and "".join(lines[1:]) == label
    assert all(text_width(line) <= 200 for line in lines) and len(lines) > 10
    assert all(text_width(line + nxt[0]) > 200 for line, nxt in zip(lines[1:-1], lines[2:]))  # each line holds as much as fits
    assert len(calls) < 25 * len(lines), len(calls)


def test_hostile_reason_is_escaped() -> None:
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    counts["dbr_excluded"] = [{"reason": "<script>alert(1)</script> & co", "n": 1}]
    svg = render_svg(counts)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
    etree.fromstring(svg.encode("utf-8"))


def test_run_writes_svg_and_deterministic_png(tmp_path: Path) -> None:
    counts_path = tmp_path / "counts.json"
    counts_path.write_text(json.dumps(compute_counts(second_run_ledger(), sources=SOURCES)), encoding="utf-8")
    for name in ("a", "b"):
        run_prisma_diagram(counts=counts_path, template=None, svg_out=tmp_path / f"{name}.svg", png_out=tmp_path / f"{name}.png")
    png = (tmp_path / "a.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


# Font set-ups a machine may have: no fonts fontconfig can find (no DejaVu, as on a Mac or a slim
# container), and a desktop's ~/.config/fontconfig settings (full hinting, subpixel colour).
FONTCONFIGS = {
    "no_fonts": "<fontconfig></fontconfig>\n",
    "hinting": """<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <match target="font">
    <edit name="hintstyle" mode="assign"><const>hintfull</const></edit>
    <edit name="rgba" mode="assign"><const>rgb</const></edit>
  </match>
</fontconfig>
""",
}


def _png_in_fresh_process(svg: Path, out: Path, fontconfig: Path | None) -> bytes:
    """prisma_diagram.svg_to_png of ``svg`` in a new Python process (fontconfig reads its set-up once per process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FONTCONFIG_")}
    if fontconfig is not None:
        env["FONTCONFIG_FILE"] = str(fontconfig)
    code = "import sys, pathlib; from livingreview.prisma_diagram import svg_to_png; pathlib.Path(sys.argv[2]).write_bytes(svg_to_png(pathlib.Path(sys.argv[1]).read_text(encoding='utf-8')))"
    subprocess.run([sys.executable, "-c", code, str(svg), str(out)], check=True, env=env, capture_output=True)
    return out.read_bytes()


def test_png_is_the_same_whatever_fonts_the_machine_has(tmp_path: Path) -> None:
    """The PNG is drawn in the bundled DejaVu Sans the layout measured with, not in whatever font and
    rendering settings the machine's fontconfig gives: the same bytes everywhere, and the text is drawn."""
    counts_path = tmp_path / "counts.json"
    counts_path.write_text(json.dumps(compute_counts(first_run_ledger(), sources=SOURCES)), encoding="utf-8")
    run_prisma_diagram(counts=counts_path, template=None, svg_out=tmp_path / "p.svg", png_out=tmp_path / "p.png")
    here = _png_in_fresh_process(tmp_path / "p.svg", tmp_path / "here.png", None)
    assert here == (tmp_path / "p.png").read_bytes()
    for name, conf in FONTCONFIGS.items():
        (tmp_path / f"{name}.conf").write_text(conf, encoding="utf-8")
        assert _png_in_fresh_process(tmp_path / "p.svg", tmp_path / f"{name}.png", tmp_path / f"{name}.conf") == here, name
    no_text = re.sub(r"<text[^>]*>.*?</text>", "", (tmp_path / "p.svg").read_text(encoding="utf-8"))
    (tmp_path / "no_text.svg").write_text(no_text, encoding="utf-8")
    assert _png_in_fresh_process(tmp_path / "no_text.svg", tmp_path / "no_text.png", tmp_path / "no_fonts.conf") != here  # the text is there


def test_phase_labels_fit_their_bars() -> None:
    for ledger in (first_run_ledger(), second_run_ledger()):
        counts = compute_counts(ledger, sources=SOURCES)
        for phase in layout(counts)["phases"]:
            assert text_width(phase.text, bold=True) + PAD <= phase.h, phase.text


def test_first_version_uses_the_new_review_template_wording() -> None:
    # PRISMA 2020 template for new reviews: "Identification of studies via databases and registers",
    # "Studies included in review" / "Reports of included studies"; "new" belongs to updates only.
    one = compute_counts(first_run_ledger(), sources=SOURCES)
    text = _texts(render_svg(one))
    assert "Identification of studies via databases and registers" in text
    assert f"Studies included in review (n = {one['total_studies']})" in text
    assert f"Reports of included studies (n = {one['total_reports']})" in text
    assert "new" not in text.lower()


def test_update_counts_a_new_report_of_a_previously_included_study_apart() -> None:
    # The second run includes pubmed:20 (new StudyC) and pubmed:21 (a new report of StudyA, included
    # in the previous version): one new study with one report, plus one new report of an old study.
    two = compute_counts(second_run_ledger(), sources=SOURCES)
    assert (two["new_studies"], two["new_reports"], two["new_reports_of_previous_studies"]) == (1, 2, 1)
    text = _texts(render_svg(two))
    assert "Identification of new studies via databases and registers" in text
    assert "New studies included in review (n = 1)" in text
    assert "Reports of new included studies (n = 1)" in text
    assert "New reports of studies included in the previous version (n = 1)" in text
    assert f"Reports of total included studies (n = {two['total_reports']})" in text


def test_prisma_csv_counts_only_reports_of_new_studies_in_the_new_reports_box() -> None:
    """PRISMA2020 app CSV: 'Reports of new included studies' leaves out a new report of a study the
    previous version included (pubmed:21 of StudyA); the total's reports keep it, as the diagram does."""
    import csv
    import io

    from livingreview.prisma import to_prisma_csv

    two = compute_counts(second_run_ledger(), sources=SOURCES)
    n = {row["data"]: row["n"] for row in csv.DictReader(io.StringIO(to_prisma_csv(two)))}
    assert (n["new_studies"], n["new_reports"], n["total_reports"]) == ("1", "1", str(two["previous_reports"] + 2))
    assert "Reports of new included studies (n = 1)" in _texts(render_svg(two))


def test_update_boxes_hold_the_decisions_made_since_on_earlier_records() -> None:
    # pubmed:6 (awaiting at title/abstract in the previous version) was included and pubmed:11
    # (awaiting at full text) excluded after the update's search: the update's boxes count both, so
    # assessed - excluded - awaiting gives the reports the included box counts as new.
    rows, dates = _decided_after_first_run()
    counts = compute_counts(rows, sources=SOURCES, decision_dates=dates)
    text = _texts(render_svg(counts))
    assert "Reports assessed for eligibility (n = 3)" in text and "Reports excluded (n = 1)" in text
    assert text.count("Change in records awaiting a decision since the previous version (n = -1)") == 2
    assert "Awaiting a decision (n = -1)" not in text
    assert "Reports of new included studies (n = 2)" in text and "New reports of studies included in the previous version (n = 1)" in text
