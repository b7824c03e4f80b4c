"""Register entries of the archived snapshot linked to the curated studies by NCT id (used by the build tools).

PRISMA 2020 counts a study register entry as a report of its study. A ClinicalTrials.gov record of the
snapshot (a `clinicaltrials:NCT...` record_id in resources/snapshot_coverage.tsv) whose NCT id is a
curated study's registration (studies.json `facts.registration`) is a report of that study, unless the
curators already list it among the study's reports. tools/build_screening_tables.py decides it with the
study; tools/build_extraction_tables.py adds its key to the study's `reports` in studies.tsv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livingreview.constants import LIST_SEP
from livingreview.errors import InputFormatError
from livingreview.tables import read_tsv

COVERAGE = "snapshot_coverage.tsv"
REGISTRY_PREFIX = "clinicaltrials:"
NCT_ID = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)


@dataclass(frozen=True)
class RegistryLink:
    """A register entry in the snapshot that is a report of a curated study."""

    evidence_key: str  # records.json key
    key: str  # decision / studies.tsv key (PMID, else DOI, else the first record_id of the snapshot copy)
    nct: str
    study_id: str
    curated_decision: str  # the study's studies.json curated_decision
    inferred: bool  # the study's registration was curated as an inferred link


def read_coverage(path: Path) -> dict[str, list[str]]:
    """Evidence key -> record_ids in the snapshot (resources/snapshot_coverage.tsv)."""
    out: dict[str, list[str]] = {}
    for row in read_tsv(path, required=("key", "record_ids")):
        out[row["key"]] = [x.strip() for x in row["record_ids"].split(LIST_SEP.strip()) if x.strip()]
    return out


def decision_key(rec: dict[str, Any], record_ids: list[str]) -> str:
    """PMID, else DOI (lower case), else the first record_id of the snapshot copy."""
    if rec.get("pmid"):
        return str(rec["pmid"])
    if rec.get("doi"):
        return str(rec["doi"]).lower()
    return record_ids[0]


def study_registrations(studies: list[dict[str, Any]]) -> dict[str, list[tuple[str, bool]]]:
    """NCT id (upper case) -> [(study_id, inferred link)] from studies.json facts.registration."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for st in studies:
        for part in str((st.get("facts") or {}).get("registration") or "").split(";"):
            for nct in NCT_ID.findall(part):
                owners = out.setdefault(nct.upper(), [])
                if st["study_id"] not in [sid for sid, _ in owners]:
                    owners.append((st["study_id"], "inferred" in part.lower()))
    return out


def registry_links(
    records: list[dict[str, Any]], studies: list[dict[str, Any]], coverage: dict[str, list[str]], *, source: str = "studies.json"
) -> dict[str, RegistryLink]:
    """Evidence key -> link, for every register entry of the snapshot whose NCT id is a curated study's registration.

    ``source`` names the studies file in errors (its path).

    Records the curators already list among a study's reports keep that role and are left out.
    """
    registrations = study_registrations(studies)
    decision = {st["study_id"]: st["curated_decision"] for st in studies}
    listed = {rep["record_key"] for st in studies for rep in st["reports"]}
    links: dict[str, RegistryLink] = {}
    for rec in records:
        ek = rec["key"]
        ids = coverage.get(ek, [])
        if ek in listed or not ids:
            continue
        found = sorted({i.split(":", 1)[1].upper() for i in ids if i.startswith(REGISTRY_PREFIX)} & set(registrations))
        if not found:
            continue
        owners = sorted({sid for n in found for sid, _ in registrations[n]})
        if len(owners) > 1:
            # a report belongs to one study (the studies stage refuses a report listed by two)
            raise InputFormatError(
                f"register entry {ek} ({', '.join(found)}) is the registration of {len(owners)} studies: {', '.join(owners)}",
                where=f"{source} facts.registration",
                fix="a register entry is a report of one study; correct the registration of the others",
            )
        nct = found[0]
        sid, inferred = registrations[nct][0]
        links[ek] = RegistryLink(ek, decision_key(rec, ids), nct, sid, decision[sid], inferred)
    return links
