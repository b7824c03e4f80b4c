"""Write the tables a build tool makes without losing the rows a review team added to them (used by the build tools).

tools/build_screening_tables.py and tools/build_extraction_tables.py write resources/screening/decisions.tsv
and resources/extraction/{studies,outcomes}.tsv for the default review as shipped. In a living review the
team then adds its own rows to those tables (decisions on a monthly run's records, a new study's
extraction), so a second `make resources` must not silently overwrite them. write_tables renders every
table first; a table that exists and holds a line the tool would not write (a team row, or a tool row
a person edited) stops the tool with one line naming the file, the first such line and the fix, and
nothing is written (not even the other tables). A table that is missing, already equal, or holds only
lines the tool writes (nothing a person added is lost) is written. ``force`` overwrites.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from livingreview.errors import LivingReviewError
from livingreview.tables import write_tsv

Table = tuple[Path, Sequence[str], Sequence[Mapping[str, Any]]]  # target, header fields, rows


def lines_lost(existing: bytes, new: bytes) -> list[int]:
    """1-based line numbers of ``existing`` whose text is not a line of ``new`` (header included); blank
    lines (an editor's extra newline, which the tables' reader skips) are not rows and are not counted."""
    keep = set(new.decode("utf-8", "replace").splitlines())
    return [n for n, line in enumerate(existing.decode("utf-8", "replace").splitlines(), start=1) if line.strip() and line not in keep]


def write_tables(tables: Sequence[Table], *, out: Path, tool: str, force: bool = False) -> None:
    """Write each table, or none of them when one would lose lines a person added (see the module doc).

    ``out``: the resources folder (the temporary folder the tables are rendered in goes there, so the
    final rename stays on one file system); ``tool``: the script's name, for the message.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build_tables.", dir=out) as tmp:
        rendered: list[tuple[Path, Path]] = []
        for i, (target, fields, rows) in enumerate(tables):
            staged = Path(tmp) / f"{i}.tsv"
            write_tsv(staged, fields, rows)
            rendered.append((target, staged))
        if not force:
            for target, staged in rendered:
                if not target.exists():
                    continue
                lost = lines_lost(target.read_bytes(), staged.read_bytes())
                if lost:
                    raise LivingReviewError(
                        f"{len(lost)} line(s) of this table are not what {tool} writes (the first at line {lost[0]}: "
                        "rows the team added or edited) and would be lost; nothing was written",
                        where=str(target),
                        fix="pass --force to overwrite it with the tool's rows only, or move the file away first "
                        "(then add the team's rows back to the new table)",
                    )
        for target, staged in rendered:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
