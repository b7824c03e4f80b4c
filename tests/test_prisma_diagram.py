"""PRISMA 2020 flow diagram: numbers from counts.json, text wrapped inside boxes, previous-version column, stable bytes."""

from __future__ import annotations

import re
from pathlib import Path

from livingreview.prisma import compute_counts
from livingreview.prisma_diagram import layout, render_svg, run_prisma_diagram, svg_to_png, text_width
from livingreview.tables import write_json

from test_prisma_counts import SOURCES, first_run_ledger, second_run_ledger


def test_every_box_holds_its_wrapped_text() -> None:
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    counts["dbr_excluded"] = [{"reason": "A very long reason label that must wrap over several lines inside its box " * 2, "n": 3}]
    drawing = layout(counts)
    for box in drawing["boxes"]:
        for line in box.lines:
            assert box.x <= line.x and line.x + text_width(line.text, bold=line.bold) <= box.x + box.w + 0.5, (box.id, line.text)
            assert box.y < line.y <= box.y + box.h, (box.id, line.text)
    wrapped = [b for b in drawing["boxes"] if any("must wrap" in line.text for line in b.lines)]
    assert wrapped and len(wrapped[0].lines) >= 3


def test_numbers_in_the_svg_are_the_counts() -> None:
    counts = compute_counts(first_run_ledger(), sources=SOURCES)
    svg = render_svg(counts)
    text = " ".join(re.findall(r">([^<>]+)</text>", svg))
    assert f"Records screened (n = {counts['records_screened']})" in text
    assert f"Duplicate records removed (n = {counts['duplicates']})" in text
    for reason in counts["dbr_excluded"]:
        assert reason["reason"].split()[0] in text
    assert "Previous studies" not in text


def test_update_run_draws_the_previous_version_column() -> None:
    counts = compute_counts(second_run_ledger(), sources=SOURCES)
    svg = render_svg(counts)
    assert "Previous studies" in svg
    assert f"(n = {counts['previous_studies']})" in svg


def test_svg_and_png_bytes_are_stable(tmp_path: Path) -> None:
    counts = tmp_path / "counts.json"
    write_json(counts, compute_counts(second_run_ledger(), sources=SOURCES))
    outs = []
    for i in range(2):
        svg, png = tmp_path / f"p{i}.svg", tmp_path / f"p{i}.png"
        run_prisma_diagram(counts=counts, template=None, svg_out=svg, png_out=png)
        outs.append((svg.read_bytes(), png.read_bytes()))
    assert outs[0] == outs[1]
    assert outs[0][1].startswith(b"\x89PNG") and svg_to_png(outs[0][0].decode()) == outs[0][1]
