"""One exception family for the project: every message says what, where, and what to do."""

from __future__ import annotations


class LivingReviewError(Exception):
    """Base class; the CLI and the Snakemake glue print ``str(err)`` as one line and exit 1."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``where: what; fix: fix`` with every run of whitespace (newlines included) folded to one space."""
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.what.rstrip("."))
        if self.fix:
            parts.append(f"; fix: {self.fix.rstrip('.')}")
        return " ".join("".join(parts).split())


class InputFormatError(LivingReviewError):
    """A file does not parse (malformed XML, RIS, CSV, TSV) or lacks a required column."""


class ConfigError(LivingReviewError):
    """The config or a human-edited table breaks its schema or refers to something unknown."""


class ArchiveError(LivingReviewError):
    """An archived search run is missing, edited (sha256 mismatch) or inconsistent."""


class SearchError(LivingReviewError):
    """A live search failed (network, count check, server errors after retries)."""


class ReconciliationError(LivingReviewError):
    """Counts do not add up (records in vs out, PRISMA arithmetic, retrieved vs reported)."""
