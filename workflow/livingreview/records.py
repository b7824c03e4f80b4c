"""The typed bibliographic record every parser yields and every later stage reads."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any, Mapping, Sequence

from .constants import LIST_SEP, RECORD_FIELDS
from .tables import read_tsv_cells


def split_list(cell: str) -> list[str]:
    """The items of a hand-edited list cell (joined by "; "; a bare ";" and stray spaces are accepted too)."""
    return [item.strip() for item in cell.split(";") if item.strip()]


@dataclass(slots=True)
class Record:
    """One database record, normalised. Lists are kept as tuples; ``to_row`` joins them."""

    record_id: str = ""
    run_id: str = ""
    database: str = ""
    native_id: str = ""
    pmid: str = ""
    doi: str = ""
    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    journal: str = ""
    journal_abbrev: str = ""
    year: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    publication_types: tuple[str, ...] = ()
    mesh: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    language: str = ""
    registration: tuple[str, ...] = ()
    source_file: str = ""
    source_line: int = 0
    encoding: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def cell(self, name: str) -> Any:
        """One field as its records.tsv row holds it (a list joined with LIST_SEP)."""
        value = getattr(self, name)
        return LIST_SEP.join(value) if isinstance(value, tuple) else value

    def to_row(self) -> dict[str, Any]:
        """Flatten to a records.tsv row (lists joined with LIST_SEP): ``cell`` of every field."""
        return {name: LIST_SEP.join(value) if isinstance(value, tuple) else value for name, value in zip(RECORD_FIELDS, _ALL_FIELDS(self))}

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> "Record":
        """Rebuild from a records.tsv row (inverse of ``to_row``)."""
        kwargs: dict[str, Any] = {name: row[name] or "" for name in _TEXT_FIELDS if name in row}
        for name in _TUPLE_FIELDS:
            if name in row:
                raw = row[name]
                kwargs[name] = tuple(filter(None, raw.split(LIST_SEP))) if raw else ()  # empty items dropped
        if "source_line" in row:
            raw = row["source_line"]
            kwargs["source_line"] = int(raw) if raw else 0
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (for JSON)."""
        return asdict(self)


assert tuple(f.name for f in fields(Record) if f.name != "extra") == RECORD_FIELDS  # contract check
_ALL_FIELDS = attrgetter(*RECORD_FIELDS)  # a record's RECORD_FIELDS values, in order, in one call
_TUPLE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Record) if f.type == "tuple[str, ...]")
# The str fields ``from_row`` copies as they are (every RECORD_FIELDS name but the lists and source_line).
_TEXT_FIELDS: tuple[str, ...] = tuple(name for name in RECORD_FIELDS if name not in _TUPLE_FIELDS and name != "source_line")


def read_records_table(path: str | os.PathLike[str], required: Sequence[str] = ("record_id",)) -> list[Record]:
    """The records of a table with records.tsv columns: ``[Record.from_row(row) for row in
    read_tsv(path, required)]``, with the same checks and errors, without a dict per row when the
    header has every RECORD_FIELDS column (a stage's own tables; about half the time at 100,000 records)."""
    header, reading = read_tsv_cells(path, required)
    rows = list(reading)  # every line checked before any is converted, as read_tsv does
    pos = {name: k for k, name in enumerate(header)}
    if any(name not in pos for name in RECORD_FIELDS):  # a hand-made table: from_row leaves the missing fields empty
        keys = [*header, "_line"]
        return [Record.from_row(dict(zip(keys, cells))) for cells in rows]
    order = [pos[name] for name in RECORD_FIELDS]
    lists = [pos[name] for name in _TUPLE_FIELDS]
    line = pos["source_line"]
    out: list[Record] = []
    for cells in rows:
        for k in lists:
            raw = cells[k]
            cells[k] = tuple(filter(None, raw.split(LIST_SEP))) if raw else ()  # as from_row
        raw = cells[line]
        cells[line] = int(raw) if raw else 0
        out.append(Record(*[cells[k] for k in order]))
    return out
