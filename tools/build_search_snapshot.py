#!/usr/bin/env python3
"""Build the archived search run resources/searches/2025-09-30/ from the curated evidence (records.json)."""

from __future__ import annotations

import argparse
import filecmp
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "workflow") not in sys.path:
    sys.path.insert(0, str(ROOT / "workflow"))

from livingreview.config import load_yaml  # noqa: E402
from livingreview.constants import LIST_SEP  # noqa: E402
from livingreview.errors import ArchiveError, InputFormatError, LivingReviewError, ReconciliationError  # noqa: E402
from livingreview.records import Record  # noqa: E402
from livingreview.runs import MANIFEST, Manifest, RunFile, write_run  # noqa: E402
from livingreview.tables import read_json, write_tsv  # noqa: E402
from livingreview.writers import (  # noqa: E402
    csv_row_lines,
    ctgov_csv,
    gzip_bytes,
    ovid_ris,
    pubmed_xml,
    record_start_lines,
)

log = logging.getLogger("build_search_snapshot")

# The builder's own version: recorded in manifest.json instead of the machine's library versions,
# so the bytes of the run do not depend on where it was built.
BUILDER_VERSION = "1.0"
RUN_ID = "2025-09-30"
DATE_RUN = "2025-09-30"
LANGUAGE = "eng"

PUBMED_FILE = "pubmed.xml.gz"
EMBASE_FILE = "embase.ris"
PSYCINFO_FILE = "psycinfo.ris"
CTGOV_FILE = "clinicaltrials.csv"
FILE_DATABASE: dict[str, str] = {
    PUBMED_FILE: "pubmed",
    EMBASE_FILE: "embase",
    PSYCINFO_FILE: "psycinfo",
    CTGOV_FILE: "clinicaltrials",
}
FILE_FORMAT: dict[str, str] = {
    PUBMED_FILE: "pubmed_xml",
    EMBASE_FILE: "ris",
    PSYCINFO_FILE: "ris",
    CTGOV_FILE: "ctgov_csv",
}
COVERAGE_FIELDS: tuple[str, ...] = ("key", "record_kind", "files", "record_ids", "locations", "reason", "omitted")
# Values of the curated fields that say nothing and are left out of the summary.
EMPTY_VALUES: frozenset[str] = frozenset({"", "not seen", "none"})
SUMMARY_FIELDS: tuple[tuple[str, str], ...] = (
    ("study_design", "Design"),
    ("population_condition", "Population"),
    ("ketamine_route", "Ketamine route"),
    ("comparator", "Comparator"),
)
NCT_RE = re.compile(r"\bNCT\d{8}\b")
FILE_NOTES: dict[str, str] = {
    PUBMED_FILE: (
        "Reconstructed snapshot built by tools/build_search_snapshot.py from curated evidence: only records "
        "with a curated PMID. Abstracts are curated summaries (design, population, ketamine route, comparator), "
        "not publishers' text. count_reported is the count of this reconstructed snapshot."
    ),
    EMBASE_FILE: (
        "Reconstructed OVID RIS export built by tools/build_search_snapshot.py from curated evidence (records "
        "judged likely indexed in Embase). No accession numbers. Abstracts are curated summaries, not "
        "publishers' text. count_reported is the count of this reconstructed snapshot."
    ),
    PSYCINFO_FILE: (
        "Reconstructed OVID RIS export built by tools/build_search_snapshot.py from curated evidence (records "
        "judged likely indexed in APA PsycInfo). No accession numbers. Abstracts are curated summaries, not "
        "publishers' text. count_reported is the count of this reconstructed snapshot."
    ),
    CTGOV_FILE: (
        "Reconstructed ClinicalTrials.gov CSV export built by tools/build_search_snapshot.py from curated "
        "registrations with an NCT id. Cells the curation does not hold are empty. Brief Summary is a curated "
        "summary. count_reported is the count of this reconstructed snapshot."
    ),
}


@dataclass
class Snapshot:
    """What goes where: per file the (evidence key, Record) pairs in file order, and why keys are left out."""

    files: dict[str, list[tuple[str, Record]]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    omitted: dict[str, list[str]] = field(default_factory=dict)


def load_evidence(evidence_dir: Path) -> list[dict[str, Any]]:
    """Read records.json; every entry needs a unique key and a record_kind."""
    path = evidence_dir / "records.json"
    data = read_json(path, fix="pass the evidence folder with --evidence; the file must be valid JSON")
    if not isinstance(data, list):
        raise InputFormatError("expected a list of records", where=str(path), fix="restore records.json")
    seen: set[str] = set()
    for i, item in enumerate(data, start=1):
        key = item.get("key") if isinstance(item, dict) else None
        if not key or not item.get("record_kind"):
            raise InputFormatError(f"entry {i} lacks key or record_kind", where=str(path), fix="add both fields")
        if key in seen:
            raise InputFormatError(f"key {key} appears twice", where=str(path), fix="keys must be unique")
        seen.add(key)
    return data


def text(value: Any) -> str:
    """A curated value as one line of text ("" for null)."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def curated_summary(ev: dict[str, Any]) -> str:
    """The abstract field: "Design: ... Population: ... Ketamine route: ... Comparator: ..." from the curated fields."""
    parts = []
    for name, label in SUMMARY_FIELDS:
        value = text(ev.get(name)).rstrip(".")
        if value.lower() in EMPTY_VALUES:
            continue
        parts.append(f"{label}: {value}.")
    return " ".join(parts)


def clean_publication_types(types: list[str] | None) -> tuple[str, ...]:
    """Publication types without curator annotations: "(per title)" etc. removed; truncated labels dropped."""
    cleaned: list[str] = []
    for pt in types or []:
        match = re.fullmatch(r"(.*?)\s*\((.*)\)\s*", pt)
        if match:
            if "truncated" in match.group(2).lower():
                continue  # the label was only partly seen: not a fact
            pt = match.group(1)
        pt = text(pt)
        if pt and pt not in cleaned:
            cleaned.append(pt)
    return tuple(cleaned)


def clean_pmcid(value: Any) -> str:
    """A PMCID only when it is a bare "PMC123..." (annotated or inferred values are left out)."""
    value = text(value)
    return value if re.fullmatch(r"PMC\d+", value) else ""


def stated_registrations(value: Any) -> tuple[str, ...]:
    """NCT ids of the registration field, leaving out links the curators only inferred."""
    found: list[str] = []
    for part in text(value).split(";"):
        if "inferred" in part.lower() or "probable" in part.lower():
            continue
        found += [n for n in NCT_RE.findall(part) if n not in found]
    return tuple(found)


def bibliographic_record(ev: dict[str, Any], *, database: str) -> Record:
    """The database record of a publication: identifiers, title, authors, journal, dates, types, summary."""
    types = clean_publication_types(ev.get("publication_types"))
    journal = text(ev.get("journal"))
    extra: dict[str, str] = {}
    if "Thesis" in types:
        extra["ris_type"] = "THES"
        extra["publisher"] = re.sub(r"\s*\(.*\)$", "", journal)
        journal = ""
    if database == "pubmed":
        pmcid = clean_pmcid(ev.get("pmcid"))
        if pmcid:
            extra["pmcid"] = pmcid
        if ev.get("authors") and ev.get("authors_complete") is False:
            extra["authors_complete"] = "N"
    return Record(
        database=database,
        run_id=RUN_ID,
        native_id=text(ev.get("pmid")) if database == "pubmed" else "",
        pmid=text(ev.get("pmid")) if database == "pubmed" else "",
        doi=text(ev.get("doi")),
        title=text(ev.get("title")),
        abstract=curated_summary(ev),
        authors=tuple(text(a) for a in ev.get("authors") or []),
        journal=journal,
        journal_abbrev=text(ev.get("journal_abbrev")),
        year=text(ev.get("year")),
        volume=text(ev.get("volume")),
        issue=text(ev.get("issue")),
        pages=text(ev.get("pages")),
        publication_types=types,
        keywords=tuple(text(k) for k in ev.get("keywords_pubmed") or []) if database == "pubmed" else (),
        language=LANGUAGE,
        registration=stated_registrations(ev.get("registration")) if database == "pubmed" else (),
        extra=extra,
    )


def _study_design_cell(design: str) -> str:
    """ClinicalTrials.gov "Study Design" cell from the words of the curated design (parts not stated are left out)."""
    d = design.lower()
    parts = []
    if re.search(r"non-randomi[sz]ed", d):
        parts.append("Allocation: NON_RANDOMIZED")
    elif re.search(r"randomi[sz]ed", d):
        parts.append("Allocation: RANDOMIZED")
    elif re.search(r"single-(arm|group)", d):
        parts.append("Allocation: NA")
    if "crossover" in d:
        parts.append("Intervention Model: CROSSOVER")
    elif "parallel" in d:
        parts.append("Intervention Model: PARALLEL")
    elif re.search(r"single-(arm|group)", d):
        parts.append("Intervention Model: SINGLE_GROUP")
    if "open-label" in d:
        parts.append("Masking: NONE")
    elif "quadruple" in d:
        parts.append("Masking: QUADRUPLE")
    elif re.search(r"double-(blind|masked)", d):
        parts.append("Masking: DOUBLE")
    return "|".join(parts)


def _enrollment_cell(design: str) -> str:
    """Enrollment from "n=162", "41 enrolled" or "est. 16" in the curated design; "" when not stated."""
    for pattern in (r"\bn\s*=\s*(\d+)", r"\b(\d+) enrolled", r"\best\.\s*(\d+)"):
        match = re.search(pattern, design, flags=re.IGNORECASE)
        if match:
            return match.group(1)
    return ""


def trial_record(ev: dict[str, Any], nct: str) -> Record:
    """The ClinicalTrials.gov row of a registration: title without the NCT suffix, curated summary, stated cells."""
    design = text(ev.get("study_design"))
    title = re.sub(r"\s*\(" + nct + r"\)\s*$", "", text(ev.get("title")))
    extra: dict[str, str] = {}
    if "withdrawn" in design.lower():
        extra["Study Status"] = "WITHDRAWN"
    elif re.search(r"\brecruiting\b", text(ev.get("description")).lower()):
        extra["Study Status"] = "RECRUITING"
    extra["Conditions"] = text(ev.get("population_condition"))
    drug_words = f"{title} {text(ev.get('ketamine_route'))}".lower()
    extra["Interventions"] = "DRUG: Esketamine" if "esketamine" in drug_words else "DRUG: Ketamine"
    phase = re.search(r"(?<!early )\bphase (\d)\b", design, flags=re.IGNORECASE)
    if phase:
        extra["Phases"] = f"PHASE{phase.group(1)}"
    enrollment = _enrollment_cell(design)
    if enrollment:
        extra["Enrollment"] = enrollment
    if design.lower() not in EMPTY_VALUES:
        extra["Study Type"] = "INTERVENTIONAL"
        extra["Study Design"] = _study_design_cell(design)
    return Record(
        database="clinicaltrials",
        run_id=RUN_ID,
        native_id=nct,
        title=title,
        abstract=curated_summary(ev),
        registration=(nct,),
        extra={k: v for k, v in extra.items() if v},
    )


def _sort_title(record: Record) -> str:
    """Case-folded title for ordering."""
    return record.title.casefold()


def plan_snapshot(evidence: list[dict[str, Any]]) -> Snapshot:
    """Decide for every evidence record which files it goes to (and why not, when it goes nowhere)."""
    snap = Snapshot(files={name: [] for name in FILE_DATABASE})
    for ev in evidence:
        key = ev["key"]
        likely = [d.lower() for d in ev.get("databases_likely") or []]
        placed = False
        if ev["record_kind"] == "trial_registration":
            ncts = NCT_RE.findall(f"{text(ev.get('title'))} {text(ev.get('registration'))}")
            if ncts:
                snap.files[CTGOV_FILE].append((key, trial_record(ev, ncts[0])))
                continue
            registry = re.search(r"\bACTRN\d{14}", f"{text(ev.get('description'))} {text(ev.get('notes'))}")
            where = f"registered in ANZCTR as {registry.group(0)}" if registry else "registry number not seen"
            snap.reasons[key] = f"trial registration without an NCT id ({where}); not a ClinicalTrials.gov record"
            continue
        if text(ev.get("pmid")):
            snap.files[PUBMED_FILE].append((key, bibliographic_record(ev, database="pubmed")))
            placed = True
        elif "pubmed" in likely:
            snap.omitted.setdefault(key, []).append("pubmed: listed as likely but no PMID was curated")
        for name, database in ((EMBASE_FILE, "embase"), (PSYCINFO_FILE, "psycinfo")):
            if database in likely:
                snap.files[name].append((key, bibliographic_record(ev, database=database)))
                placed = True
        if not placed:
            if ev["record_kind"] == "preprint":
                snap.reasons[key] = "preprint indexed by none of the searched databases (PubMed, Embase, APA PsycInfo)"
            elif likely:
                snap.reasons[key] = (
                    f"databases_likely is {', '.join(likely)} but no PMID was curated: "
                    "a PubMed record cannot be written without inventing a PMID"
                )
            else:
                snap.reasons[key] = "indexed by none of the searched databases (databases_likely is empty)"
    snap.files[PUBMED_FILE].sort(key=lambda kr: int(kr[1].pmid))
    # Embase: newest first, then title; PsycInfo: first author, year, title (two OVID sort orders).
    snap.files[EMBASE_FILE].sort(key=lambda kr: (-int(kr[1].year or 0), _sort_title(kr[1]), kr[0]))
    snap.files[PSYCINFO_FILE].sort(
        key=lambda kr: ((kr[1].authors[0] if kr[1].authors else "").casefold(), kr[1].year, _sort_title(kr[1]), kr[0])
    )
    snap.files[CTGOV_FILE].sort(key=lambda kr: kr[1].native_id)
    for name, pairs in snap.files.items():
        database = FILE_DATABASE[name]
        for ordinal, (_key, record) in enumerate(pairs, start=1):
            record.record_id = f"{database}:{record.native_id or f'{RUN_ID}#{ordinal}'}"
            record.source_file = f"resources/searches/{RUN_ID}/{name}"
    return snap


def render_files(snap: Snapshot) -> tuple[dict[str, bytes], dict[str, list[int]]]:
    """The bytes of every file and the 1-based start line of each record in the (decompressed) file."""
    xml = pubmed_xml([r for _k, r in snap.files[PUBMED_FILE]])
    embase = ovid_ris([r for _k, r in snap.files[EMBASE_FILE]], database="embase", pages_style="compressed", year_style="slashes")
    psycinfo = ovid_ris([r for _k, r in snap.files[PSYCINFO_FILE]], database="psycinfo", pages_style="split", year_style="plain")
    ctgov = ctgov_csv([r for _k, r in snap.files[CTGOV_FILE]])
    lines = {
        PUBMED_FILE: record_start_lines(xml.decode("utf-8"), marker="<PubmedArticle>"),
        EMBASE_FILE: record_start_lines(embase, marker="TY  - "),
        PSYCINFO_FILE: record_start_lines(psycinfo, marker="TY  - "),
        CTGOV_FILE: csv_row_lines(ctgov),
    }
    for name, starts in lines.items():
        if len(starts) != len(snap.files[name]):
            raise ReconciliationError(
                f"{len(snap.files[name])} records written but {len(starts)} record starts found",
                where=name,
                fix="a field value breaks the file format; inspect the writer output",
            )
    data = {
        PUBMED_FILE: gzip_bytes(xml),
        EMBASE_FILE: embase.encode("utf-8"),
        PSYCINFO_FILE: psycinfo.encode("utf-8"),
        CTGOV_FILE: ctgov.encode("utf-8"),
    }
    return data, lines


def build_manifest(snap: Snapshot, config: dict[str, Any]) -> Manifest:
    """manifest.json: per file the database, platform, exact strategy from the config, limits and counts."""
    searches = config["searches"]
    sources = {s["database"]: s for s in searches["sources"]}
    limits = {"from": str(searches["date_from"]), "to": str(searches["date_to"])}
    files = []
    for name, database in FILE_DATABASE.items():
        if database not in sources:
            raise InputFormatError(
                f"no searches.sources entry for database {database}",
                where="config/config.yaml",
                fix="add the source and its strategy to the config",
            )
        n = len(snap.files[name])
        files.append(
            RunFile(
                name=name,
                database=database,
                platform=sources[database]["platform"],
                format=FILE_FORMAT[name],
                query=sources[database]["strategy"],
                date_limits=dict(limits),
                count_reported=n,
                count_in_file=n,
                notes=FILE_NOTES[name],
            )
        )
    return Manifest(
        run_id=RUN_ID,
        date_run=DATE_RUN,
        files=files,
        tool_versions={"build_search_snapshot": BUILDER_VERSION},
        description=(
            "Reconstructed search snapshot for the default review (inception to 30 September 2025), built from "
            "curated evidence by tools/build_search_snapshot.py. The strategies are a reconstruction (the published "
            "appendix is not public); counts are those of this snapshot, not counts reported by the databases."
        ),
    )


def coverage_rows(evidence: list[dict[str, Any]], snap: Snapshot, lines: dict[str, list[int]]) -> list[dict[str, str]]:
    """One row per evidence key: the files and record_ids it became, or the reason it is in no file."""
    placed: dict[str, list[tuple[str, str, str]]] = {}
    for name, pairs in snap.files.items():
        for (key, record), line in zip(pairs, lines[name]):
            placed.setdefault(key, []).append((name, record.record_id, f"{name}:{line}"))
    rows = []
    for ev in sorted(evidence, key=lambda e: e["key"]):
        key = ev["key"]
        hits = placed.get(key, [])
        if not hits and key not in snap.reasons:
            raise ReconciliationError(f"evidence record {key} is in no file and has no reason", where="records.json", fix="fix plan_snapshot")
        rows.append(
            {
                "key": key,
                "record_kind": ev["record_kind"],
                "files": LIST_SEP.join(h[0] for h in hits),
                "record_ids": LIST_SEP.join(h[1] for h in hits),
                "locations": LIST_SEP.join(h[2] for h in hits),
                "reason": snap.reasons.get(key, ""),
                "omitted": LIST_SEP.join(snap.omitted.get(key, [])) if hits else "",
            }
        )
    return rows


def same_run(a: Path, b: Path) -> bool:
    """True when two run folders hold the same file names with the same bytes."""
    names_a = sorted(p.name for p in a.iterdir())
    names_b = sorted(p.name for p in b.iterdir())
    return names_a == names_b and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names_a)


def build(*, evidence_dir: Path, out: Path, config_path: Path, force: bool = False) -> Path:
    """Build the run folder and snapshot_coverage.tsv under ``out``; returns the run folder.

    The run is written with runs.write_run into a temporary root beside the target, then moved into
    place. An existing run with the same bytes is left as it is; a different one is replaced only with
    ``force`` (archived runs are otherwise immutable).
    """
    evidence = load_evidence(evidence_dir)
    config = load_yaml(config_path)
    searches = config.get("searches") if isinstance(config, dict) else None
    if not isinstance(searches, dict) or not all(k in searches for k in ("sources", "date_from", "date_to")):
        raise InputFormatError(
            "searches.sources, searches.date_from and searches.date_to are required",
            where=str(config_path),
            fix="restore the searches section of the config",
        )
    snap = plan_snapshot(evidence)
    data, lines = render_files(snap)
    manifest = build_manifest(snap, config)
    rows = coverage_rows(evidence, snap, lines)
    n_in = len(evidence)
    n_out = sum(1 for r in rows if r["files"]) + sum(1 for r in rows if not r["files"] and r["reason"])
    if n_out != n_in:
        raise ReconciliationError(f"{n_in} evidence records but {n_out} accounted for", where="records.json", fix="fix plan_snapshot")
    searches_root = out / "searches"
    searches_root.mkdir(parents=True, exist_ok=True)
    final = searches_root / RUN_ID
    with tempfile.TemporaryDirectory(prefix=f".{RUN_ID}.build.", dir=searches_root) as tmp:
        built = write_run(tmp, manifest, data)
        if final.exists():
            if same_run(final, built):
                log.info("%s is up to date (same bytes)", final)
            elif not force:
                raise ArchiveError(
                    f"run {RUN_ID} exists with different bytes (runs are immutable)",
                    where=str(final),
                    fix="pass --force to replace this reconstructed snapshot, and say why in the commit",
                )
            else:
                old = searches_root / f".{RUN_ID}.old"
                if old.exists():
                    shutil.rmtree(old)
                os.rename(final, old)
                os.rename(built, final)
                shutil.rmtree(old)
                log.info("replaced %s", final)
        else:
            os.rename(built, final)
            log.info("wrote %s", final)
    write_tsv(out / "snapshot_coverage.tsv", COVERAGE_FIELDS, rows)
    for f in sorted(manifest.files, key=lambda f: f.name):
        log.info("%s: %d records", f.name, f.count_in_file)
    log.info("%d evidence records: %d in files, %d with a reason", n_in, sum(1 for r in rows if r["files"]), len(snap.reasons))
    return final


def main(argv: list[str] | None = None) -> int:
    """Command line: build_search_snapshot.py --evidence DIR --out resources [--config FILE] [--force]."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--evidence", required=True, type=Path, help="folder with records.json")
    parser.add_argument("--out", required=True, type=Path, help="resources folder (the run goes to OUT/searches/%s)" % RUN_ID)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml", help="config with the search strategies")
    parser.add_argument("--force", action="store_true", help="replace an existing run whose bytes differ")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        run_dir = build(evidence_dir=args.evidence, out=args.out, config_path=args.config, force=args.force)
    except LivingReviewError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{run_dir / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
