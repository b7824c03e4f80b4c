"""PRISMA 2020 flow diagram: box layout and text wrapping in Python, drawn by a Jinja SVG template, PNG via CairoSVG."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import jinja2

from .config import TEMPLATE_DIR
from .errors import InputFormatError, LivingReviewError
from .prisma import update_notes
from .tables import atomic_path, write_text

LOG = logging.getLogger(__name__)

FONT_FAMILY = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
FONT_SIZE = 12.0
LINE_HEIGHT = 15.0
PAD = 8.0
INDENT = 12.0
GAP_X = 36.0
GAP_Y = 26.0
BAR_W = 28.0
HEADER_H = 30.0
MARGIN = 10.0
MAIN_W = 290.0
SIDE_W = 290.0
PREV_W = 220.0
PNG_SCALE = 2.0

COLOURS = {
    "box": "#ffffff",
    "stroke": "#000000",
    "phase": "#c5d9f1",
    "new_header": "#ffc000",
    "prev_header": "#d9d9d9",
    "arrow": "#000000",
}


@dataclass
class Line:
    """One wrapped line of text inside a box."""

    text: str
    x: float
    y: float
    bold: bool = False


@dataclass
class Box:
    """A box of the flow diagram with its wrapped lines."""

    id: str
    x: float
    y: float
    w: float
    h: float
    fill: str
    lines: list[Line] = field(default_factory=list)
    rounded: bool = False
    centred: bool = False


@dataclass
class Arrow:
    """A straight or elbowed connector between boxes (list of points)."""

    points: list[tuple[float, float]]


@dataclass
class PhaseLabel:
    """A vertical blue phase bar (Identification, Screening, Included)."""

    text: str
    x: float
    y: float
    w: float
    h: float


def bundled_font_dir() -> Path:
    """matplotlib's bundled TrueType fonts (DejaVu among them): the same files on every machine."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=2)
def _font(bold: bool) -> Any:
    from matplotlib.ft2font import FT2Font

    return FT2Font(str(bundled_font_dir() / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")))


@functools.lru_cache(maxsize=4096)
def text_width(text: str, *, size: float = FONT_SIZE, bold: bool = False) -> float:
    """Width in px of ``text`` set in DejaVu Sans (matplotlib's bundled font, the same on every machine)."""
    font = _font(bold)
    font.set_size(size, 72)
    font.set_text(text, 0.0)
    return font.get_width_height()[0] / 64.0


def _head_that_fits(word: str, width: float, *, size: float, bold: bool) -> int:
    """Length of the longest head of ``word`` no wider than ``width`` px (at least 1; len(word) when
    it all fits). Heads of doubling length, then bisection, so a long unbroken label (a URL) costs a
    few measurements of about the line's length, not one of every length of the whole label (which
    took minutes for a few thousand characters)."""
    fits, probe = 0, 1
    while True:
        head = min(probe, len(word))
        if text_width(word[:head], size=size, bold=bold) > width:
            too_wide = head
            break
        fits = head
        if head == len(word):
            return fits
        probe *= 2
    low, high = fits, too_wide - 1
    while low < high:
        mid = (low + high + 1) // 2
        if text_width(word[:mid], size=size, bold=bold) <= width:
            low = mid
        else:
            high = mid - 1
    return max(low, 1)


def wrap(text: str, width: float, *, size: float = FONT_SIZE, bold: bool = False) -> list[str]:
    """Greedy word wrap of ``text`` at plain spaces into lines no wider than ``width`` px.

    Non-breaking spaces (as in "(n\u00a0=\u00a03)") keep their words together; a too-long word is split.
    """
    lines: list[str] = []
    current = ""
    for word in [w for w in text.split(" ") if w]:
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size=size, bold=bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(word) > 1:
            cut = _head_that_fits(word, width, size=size, bold=bold)
            if cut == len(word):
                break
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines or [""]


def _n(value: Any) -> str:
    return f"(n\u00a0=\u00a0{value})"


def _awaiting(n: int) -> str:
    """The awaiting line of a side box. In an update it is a change: records of earlier runs that
    waited in the previous version and were decided since count in this update (prisma.compute_counts),
    so it can fall below zero."""
    if n < 0:
        return f"Change in records awaiting a decision since the previous version {_n(n)}"
    return f"Awaiting a decision {_n(n)}"


def _make_box(box_id: str, x: float, y: float, w: float, items: Sequence[tuple[str, int, bool]], *, fill: str = COLOURS["box"], centred: bool = False, min_h: float = 0.0) -> Box:
    """A box at (x, y) of width w holding items (text, indent level, bold), wrapped; height from its lines."""
    box = Box(id=box_id, x=x, y=y, w=w, h=0.0, fill=fill, centred=centred)
    ty = y + PAD + FONT_SIZE
    for text, level, bold in items:
        indent = INDENT * level
        for piece in wrap(text, w - 2 * PAD - indent, bold=bold):
            lx = x + w / 2 if centred else x + PAD + indent
            box.lines.append(Line(text=piece, x=round(lx, 1), y=round(ty, 1), bold=bold))
            ty += LINE_HEIGHT
    box.h = max(min_h, round(ty - LINE_HEIGHT + PAD + 4 - y, 1))
    return box


def layout(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Place every box, arrow and phase label of the PRISMA 2020 flow for these counts.

    Returns a dict for the SVG template: width, height, boxes, arrows, phases, headers, font.
    """
    for key in ("records_screened", "dbr_assessed", "new_studies"):
        if key not in counts:
            raise InputFormatError(f"counts lack '{key}'", where="results/prisma/counts.json", fix="re-run the prisma_counts rule")
    previous = counts.get("previous")
    notes = update_notes(counts)

    def noted(key: str, items: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
        """The items of one count followed by why this update's count holds records of earlier searches."""
        return items + [(f"of which {note}", 1, False) for note in notes.get(key, [])]

    x_bar = MARGIN
    x_prev = x_bar + BAR_W + 12
    x_main = x_prev + (PREV_W + GAP_X if previous else 0)
    x_side = x_main + MAIN_W + GAP_X
    width = x_side + SIDE_W + MARGIN
    boxes: list[Box] = []
    arrows: list[Arrow] = []
    headers: list[Box] = []

    y = MARGIN
    headers.append(
        _make_box("header_new", x_main, y, MAIN_W + GAP_X + SIDE_W, [(f"Identification of {'new ' if previous else ''}studies via databases and registers", 0, True)], fill=COLOURS["new_header"], centred=True, min_h=HEADER_H)
    )
    if previous:
        headers.append(_make_box("header_previous", x_prev, y, PREV_W, [("Previous studies", 0, True)], fill=COLOURS["prev_header"], centred=True, min_h=headers[0].h))
    for h in headers:
        h.rounded = True
    y += headers[0].h + GAP_Y

    # Identification
    ident_items: list[tuple[str, int, bool]] = [("Records identified from:", 0, False)]
    ident_items.append((f"Databases {_n(counts['database_results'])}", 1, False))
    for d in counts.get("database_specific_results", []):
        ident_items.append((f"{d['label']} {_n(d['n'])}", 2, False))
    ident_items.append((f"Registers {_n(counts['register_results'])}", 1, False))
    for d in counts.get("register_specific_results", []):
        ident_items.append((f"{d['label']} {_n(d['n'])}", 2, False))
    ident = _make_box("identified", x_main, y, MAIN_W, ident_items)
    removed = _make_box(
        "removed",
        x_side,
        y,
        SIDE_W,
        [
            ("Records removed before screening:", 0, False),
            *noted("duplicates", [(f"Duplicate records removed {_n(counts['duplicates'])}", 1, False)]),
            *noted("excluded_automatic", [(f"Records marked as ineligible by automation tools {_n(counts['excluded_automatic'])}", 1, False)]),
            *noted("excluded_other", [(f"Records removed for other reasons {_n(counts['excluded_other'])}", 1, False)]),
        ],
    )
    row_h = max(ident.h, removed.h)
    prev_box = None
    if previous:
        prev_box = _make_box(
            "previous",
            x_prev,
            y,
            PREV_W,
            [
                (f"Studies included in previous version of review {_n(counts['previous_studies'])}", 0, False),
                (f"Reports of studies included in previous version of review {_n(counts['previous_reports'])}", 0, False),
                (f"Records identified in earlier search runs ({', '.join(previous['runs'])}) {_n(previous['records_identified'])}", 0, False),
            ],
        )
        row_h = max(row_h, prev_box.h)
        prev_box.h = row_h
        boxes.append(prev_box)
    ident.h = removed.h = row_h
    boxes += [ident, removed]
    arrows.append(Arrow([(x_main + MAIN_W, y + row_h / 2), (x_side, y + row_h / 2)]))
    ident_top, ident_bottom = y, y + row_h
    y += row_h + GAP_Y

    # Screening: three rows, each a main box and a side box
    awaiting_ta = counts.get("records_awaiting", 0)
    ft_reasons = [(f"{d['reason']} {_n(d['n'])}", 1, False) for d in counts.get("dbr_excluded", [])]
    awaiting_ft = counts.get("dbr_awaiting", 0)
    excluded_items = noted("records_excluded", [(f"Records excluded {_n(counts['records_excluded'])}", 0, False)])
    if awaiting_ta:
        excluded_items += noted("records_awaiting", [(_awaiting(awaiting_ta), 0, False)])
    ft_items = noted("dbr_excluded_total", [(f"Reports excluded {_n(counts.get('dbr_excluded_total', sum(d['n'] for d in counts.get('dbr_excluded', []))))}", 0, False)]) + ft_reasons
    if awaiting_ft:
        ft_items += noted("dbr_awaiting", [(_awaiting(awaiting_ft), 0, False)])
    screening_rows = [
        ("screened", noted("records_screened", [(f"Records screened {_n(counts['records_screened'])}", 0, False)]), "records_excluded", excluded_items),
        ("sought", noted("dbr_sought_reports", [(f"Reports sought for retrieval {_n(counts['dbr_sought_reports'])}", 0, False)]), "not_retrieved",
         noted("dbr_notretrieved_reports", [(f"Reports not retrieved {_n(counts['dbr_notretrieved_reports'])}", 0, False)])),
        ("assessed", noted("dbr_assessed", [(f"Reports assessed for eligibility {_n(counts['dbr_assessed'])}", 0, False)]), "reports_excluded", ft_items),
    ]
    screen_top = y
    prev_main: Box = ident
    for main_id, main_items, side_id, side_items in screening_rows:
        main = _make_box(main_id, x_main, y, MAIN_W, main_items)
        side = _make_box(side_id, x_side, y, SIDE_W, side_items)
        h = max(main.h, side.h)
        main.h = side.h = h
        boxes += [main, side]
        arrows.append(Arrow([(x_main + MAIN_W / 2, prev_main.y + prev_main.h), (x_main + MAIN_W / 2, y)]))
        arrows.append(Arrow([(x_main + MAIN_W, y + h / 2), (x_side, y + h / 2)]))
        prev_main = main
        y += h + GAP_Y
    screen_bottom = y - GAP_Y

    # Included
    included_top = y
    if previous:
        # PRISMA 2020 template for updated reviews; a new report of a study included in the previous
        # version is not a report of a new study, so it is counted on a line of its own
        old_study_reports = int(counts.get("new_reports_of_previous_studies", 0))
        included_items = [
            (f"New studies included in review {_n(counts['new_studies'])}", 0, False),
            (f"Reports of new included studies {_n(counts['new_reports'] - old_study_reports)}", 0, False),
        ]
        if old_study_reports:
            included_items.append((f"New reports of studies included in the previous version {_n(old_study_reports)}", 0, False))
    else:
        # PRISMA 2020 template for new reviews
        included_items = [
            (f"Studies included in review {_n(counts['total_studies'])}", 0, False),
            (f"Reports of included studies {_n(counts['total_reports'])}", 0, False),
        ]
    new_box = _make_box(
        "new_included",
        x_main,
        y,
        MAIN_W,
        included_items,
        # the vertical "Included" phase label must fit beside this box when it is the only one
        min_h=0.0 if previous else round(text_width("Included", bold=True) + 2 * PAD, 1),
    )
    boxes.append(new_box)
    arrows.append(Arrow([(x_main + MAIN_W / 2, prev_main.y + prev_main.h), (x_main + MAIN_W / 2, y)]))
    y += new_box.h
    if previous and prev_box is not None:
        y += GAP_Y
        total = _make_box(
            "total_included",
            x_main,
            y,
            MAIN_W,
            [
                (f"Total studies included in review {_n(counts['total_studies'])}", 0, False),
                (f"Reports of total included studies {_n(counts['total_reports'])}", 0, False),
                # previous + new - these = total (prisma.compute_counts previous.reports_not_carried)
                *(
                    [(f"Reports of the previous version merged since into another by a duplicate link {_n(len(previous['reports_not_carried']))}", 1, False)]
                    if previous.get("reports_not_carried")
                    else []
                ),
            ],
        )
        boxes.append(total)
        arrows.append(Arrow([(x_main + MAIN_W / 2, new_box.y + new_box.h), (x_main + MAIN_W / 2, y)]))
        px = x_prev + PREV_W / 2
        arrows.append(Arrow([(px, prev_box.y + prev_box.h), (px, y + total.h / 2), (x_main, y + total.h / 2)]))
        y += total.h
    included_bottom = y
    height = y + MARGIN

    phases = [
        PhaseLabel("Identification", x_bar, ident_top, BAR_W, ident_bottom - ident_top),
        PhaseLabel("Screening", x_bar, screen_top, BAR_W, screen_bottom - screen_top),
        PhaseLabel("Included", x_bar, included_top, BAR_W, included_bottom - included_top),
    ]
    return {
        "width": round(width, 1),
        "height": round(height, 1),
        "boxes": boxes,
        "headers": headers,
        "arrows": arrows,
        "phases": phases,
        "font_family": FONT_FAMILY,
        "font_size": FONT_SIZE,
        "colours": COLOURS,
        "title": "PRISMA 2020 flow diagram",
        "description": (
            f"{counts.get('records_identified', counts['database_results'] + counts['register_results'])} records identified; "
            f"{counts['records_screened']} screened; {counts['dbr_assessed']} reports assessed; "
            f"{counts['total_studies']} studies ({counts['total_reports']} reports) included."
        ),
    }


def _environment(template_dir: str | os.PathLike[str]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_svg(counts: Mapping[str, Any], *, template: str | os.PathLike[str] | None = None) -> str:
    """The PRISMA 2020 flow as SVG text (the template is workflow/templates/prisma.svg.j2 unless given)."""
    path = Path(template) if template else TEMPLATE_DIR / "prisma.svg.j2"
    env = _environment(path.parent)
    return env.get_template(path.name).render(**layout(counts))


# Fontconfig set-up for the rasteriser: only matplotlib's bundled fonts, fixed rendering options.
FONTCONFIG = """<?xml version="1.0"?>
<fontconfig>
  <dir>{fonts}</dir>
  <cachedir>{cache}</cachedir>
  <match target="font">
    <edit name="antialias" mode="assign"><bool>true</bool></edit>
    <edit name="hinting" mode="assign"><bool>false</bool></edit>
    <edit name="hintstyle" mode="assign"><const>hintnone</const></edit>
    <edit name="autohint" mode="assign"><bool>false</bool></edit>
    <edit name="rgba" mode="assign"><const>none</const></edit>
    <edit name="embeddedbitmap" mode="assign"><bool>false</bool></edit>
  </match>
</fontconfig>
"""
_RASTERISE = "import sys, cairosvg; sys.stdout.buffer.write(cairosvg.svg2png(bytestring=sys.stdin.buffer.read(), scale=float(sys.argv[1])))"


def svg_to_png(svg: str, *, scale: float = PNG_SCALE, where: str = "prisma.png") -> bytes:
    """Rasterise the SVG with CairoSVG (the same drawing as the SVG; cairo writes no timestamps).

    Cairo finds fonts through fontconfig, which would give each machine its own: another font where
    DejaVu Sans is not installed (text wider than the boxes the layout measured), and the user's
    hinting and subpixel settings. So CairoSVG runs in a child process whose fontconfig sees only
    matplotlib's bundled fonts (the DejaVu Sans of ``text_width``) with fixed rendering options
    (fontconfig reads its set-up once per process, hence the child). The bytes still depend on the
    cairo library the machine has (cairocffi loads the system's libcairo).
    """
    with tempfile.TemporaryDirectory(prefix="livingreview-fonts-") as tmp:
        conf = Path(tmp) / "fonts.conf"
        conf.write_text(FONTCONFIG.format(fonts=xml_escape(str(bundled_font_dir())), cache=xml_escape(str(Path(tmp) / "cache"))), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FONTCONFIG_", "FC_"))}
        env["FONTCONFIG_FILE"] = str(conf)
        proc = subprocess.run([sys.executable, "-c", _RASTERISE, repr(float(scale))], input=svg.encode("utf-8"), capture_output=True, env=env)
    if proc.returncode != 0 or not proc.stdout.startswith(b"\x89PNG"):
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise LivingReviewError(f"CairoSVG could not draw the PRISMA PNG ({last})", where=where,
                                fix="check that cairosvg and the cairo library are installed (pip install cairosvg; the system package libcairo2)")
    return proc.stdout


def run_prisma_diagram(
    *,
    counts: str | os.PathLike[str],
    template: str | os.PathLike[str] | None,
    svg_out: str | os.PathLike[str],
    png_out: str | os.PathLike[str],
) -> None:
    """Pipeline step: read counts.json, write prisma.svg and prisma.png."""
    import json

    path = Path(counts)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFormatError("file not found", where=str(path), fix="run the prisma_counts rule first") from None
    except json.JSONDecodeError as err:
        raise InputFormatError(f"not valid JSON ({err.msg})", where=f"{path}:{err.lineno}", fix="re-run the prisma_counts rule") from None
    svg = render_svg(data, template=template)
    png = svg_to_png(svg, where=str(png_out))
    write_text(svg_out, svg)
    with atomic_path(png_out) as tmp:
        Path(tmp).write_bytes(png)
    LOG.info("PRISMA diagram: %s (%d bytes), %s (%d bytes)", svg_out, len(svg), png_out, len(png))
