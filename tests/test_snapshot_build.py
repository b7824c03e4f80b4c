"""The snapshot builder: same bytes twice, every evidence record accounted for, curation cleaned, no overwrite."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from livingreview.errors import ArchiveError
from livingreview.runs import load_manifest, verify_run
from livingreview.tables import read_tsv

ROOT = Path(__file__).resolve().parents[1]

# A subset of the curated evidence (/work/shared/evidence/records.json, facts only), one record per
# branch of the builder: PubMed + Embase + PsycInfo copies, no PMID, thesis, NCT registration,
# ANZCTR registration, preprint, PubMed-only without PMID, annotated publication types.
EVIDENCE: list[dict[str, Any]] = (
[{'key': 'K071',
  'record_kind': 'core_iv_rct_brief',
  'title': 'Efficacy of Intravenous Ketamine for Treatment of Chronic Posttraumatic Stress Disorder: A '
           'Randomized Clinical Trial',
  'authors': ['Feder A',
              'Parides MK',
              'Murrough JW',
              'Perez AM',
              'Morgan JE',
              'Saxena S',
              'Kirkwood K',
              'aan het Rot M',
              'Lapidus KAB',
              'Wan LB',
              'Iosifescu D',
              'Charney DS'],
  'authors_complete': True,
  'journal': 'JAMA Psychiatry',
  'journal_abbrev': 'JAMA Psychiatry',
  'year': 2014,
  'volume': '71',
  'issue': '6',
  'pages': '681-688',
  'pmid': '24740528',
  'pmcid': None,
  'doi': '10.1001/jamapsychiatry.2014.62',
  'registration': 'NCT00749203',
  'publication_types': ['Journal Article', 'Randomized Controlled Trial'],
  'population_condition': 'chronic PTSD',
  'study_design': 'proof-of-concept randomized double-blind crossover (n=41)',
  'ketamine_route': 'IV (0.5 mg/kg)',
  'comparator': 'IV midazolam 0.045 mg/kg',
  'databases_likely': ['pubmed', 'embase', 'psycinfo'],
  'description': 'Core IV RCT (listed briefly): single ketamine infusion reduced PTSD symptoms at 24 h vs '
                 'midazolam.'},
 {'key': 'K072',
  'record_kind': 'core_iv_rct_brief',
  'title': 'A Randomized Controlled Trial of Repeated Ketamine Administration for Chronic Posttraumatic '
           'Stress Disorder',
  'authors': ['Feder A'],
  'authors_complete': False,
  'journal': 'American Journal of Psychiatry',
  'year': 2021,
  'volume': '178',
  'issue': '2',
  'pages': '193-202',
  'pmid': None,
  'pmcid': None,
  'doi': '10.1176/appi.ajp.2020.20050596',
  'registration': 'NCT02397889',
  'publication_types': ['Journal Article', 'Randomized Controlled Trial'],
  'population_condition': 'chronic PTSD',
  'study_design': 'randomized double-blind parallel (N=30), 6 infusions over 2 weeks',
  'ketamine_route': 'IV (0.5 mg/kg)',
  'comparator': 'IV midazolam 0.045 mg/kg',
  'databases_likely': ['pubmed', 'embase', 'psycinfo'],
  'description': 'Core IV RCT (listed briefly): repeated ketamine improved CAPS-5 vs midazolam at 2 weeks.'},
 {'key': 'K049',
  'record_kind': 'dissertation_thesis',
  'title': 'Combining Ketamine and Online Cognitive Behavioural Therapy for the Treatment of Posttraumatic '
           'Stress Disorder',
  'authors': ['Philipp-Muller A'],
  'authors_complete': True,
  'journal': "Queen's University (thesis, QSpace)",
  'year': None,
  'volume': None,
  'issue': None,
  'pages': None,
  'pmid': None,
  'pmcid': None,
  'doi': None,
  'publication_types': ['Thesis'],
  'population_condition': 'refractory PTSD',
  'study_design': 'controlled pilot (n=10): ketamine + eCBT vs passive observation',
  'ketamine_route': 'not stated on page (sub-anesthetic)',
  'comparator': 'passive observation control',
  'databases_likely': ['psycinfo'],
  'description': "Master's-level thesis testing ketamine with online CBT for treatment-resistant PTSD."},
 {'key': 'K041',
  'record_kind': 'trial_registration',
  'title': 'Ketamine as a Rapid Treatment for Post-traumatic Stress Disorder (PTSD) (NCT00749203)',
  'authors': [],
  'authors_complete': False,
  'journal': None,
  'year': None,
  'volume': None,
  'issue': None,
  'pages': None,
  'pmid': None,
  'pmcid': None,
  'doi': None,
  'publication_types': [],
  'population_condition': 'chronic PTSD (CAPS >= 50)',
  'study_design': 'randomized quadruple-blind crossover (n=41)',
  'ketamine_route': 'IV (0.5 mg/kg over 40 min)',
  'comparator': 'IV midazolam 0.045 mg/kg',
  'databases_likely': [],
  'description': 'Registration of the first single-dose IV ketamine vs midazolam crossover trial in PTSD '
                 '(Mount Sinai).'},
 {'key': 'K069',
  'record_kind': 'trial_registration',
  'title': 'Ketamine Plus Exposure Therapy For Post-Traumatic Stress Disorder (PTSD)– Open Label Pilot Study '
           'Targeting Anxiety',
  'authors': [],
  'authors_complete': False,
  'journal': None,
  'year': None,
  'volume': None,
  'issue': None,
  'pages': None,
  'pmid': None,
  'pmcid': None,
  'doi': None,
  'publication_types': [],
  'population_condition': 'PTSD',
  'study_design': 'open-label pilot (acronym K+PE)',
  'ketamine_route': 'oral (titrated to 2 mg/kg twice weekly)',
  'comparator': 'none (weekly Prolonged Exposure for all)',
  'databases_likely': [],
  'description': 'Australian prospectively registered pilot of oral ketamine with weekly Prolonged Exposure '
                 '(ACTRN12625000722493p).'},
 {'key': 'K070',
  'record_kind': 'preprint',
  'title': 'Molecular signatures of astrocytes and microglia maladaptive responses to acute stress are '
           'rescued by a single administration of ketamine in a rodent model of PTSD',
  'authors': ['Scuderi C',
              'Valenza M',
              'Facchinetti R',
              'Torazza C',
              'Ciarla C',
              'Bronzuoli M',
              'Balbi M',
              'Bonanno G',
              'Popoli M',
              'Steardo L',
              'Milanese M',
              'Musazzi L',
              'Bonifacino T'],
  'authors_complete': True,
  'journal': 'Research Square (preprint)',
  'year': 2024,
  'volume': None,
  'issue': None,
  'pages': None,
  'pmid': None,
  'pmcid': None,
  'doi': '10.21203/rs.3.rs-3673261/v1',
  'publication_types': ['Preprint'],
  'population_condition': 'acute inescapable footshock PTSD model (resilient vs vulnerable)',
  'study_design': 'preclinical experiment',
  'ketamine_route': 'single subanesthetic dose (route not stated)',
  'comparator': 'vehicle',
  'databases_likely': [],
  'description': 'Rat study: ketamine rescued glial and inflammatory changes in stress-vulnerable animals.'},
 {'key': 'K067',
  'record_kind': 'trial_protocol',
  'title': 'Combining Ketamine and Internet-Based Cognitive Behavioral Therapy for the Treatment of '
           'Posttraumatic Stress Disorder: Protocol for a Randomized Controlled Trial',
  'authors': ['Philipp-Muller AE',
              'Reshetukha T',
              'Vazquez G',
              'Milev R',
              'Armstrong D',
              'Jagayat J',
              'Alavi N'],
  'authors_complete': True,
  'journal': 'JMIR Research Protocols',
  'year': 2021,
  'volume': None,
  'issue': None,
  'pages': None,
  'pmid': None,
  'pmcid': 'PMC8335614 (inferred from S-EPMC8335614 dataset id)',
  'doi': '10.2196/30334',
  'registration': 'NCT04771767; IRRID PRR1-10.2196/30334',
  'publication_types': ['Journal Article'],
  'population_condition': 'refractory PTSD',
  'study_design': 'protocol for open-label RCT (n=20) vs waitlist',
  'ketamine_route': 'IV (subanesthetic)',
  'comparator': 'waitlist control (delayed treatment)',
  'databases_likely': ['pubmed'],
  'description': 'Protocol for IV ketamine plus therapist-guided e-CBT versus waitlist in '
                 'treatment-resistant PTSD.'},
 {'key': 'K025',
  'record_kind': 'animal_preclinical',
  'title': 'Ketamine sex- and dose-dependently mitigates behavioral sequelae induced by a predator-based '
           'psychosocial stress model of post-traumatic stress disorder',
  'authors': [],
  'authors_complete': False,
  'journal': 'Behavioural Brain Research',
  'journal_abbrev': 'Behav Brain Res',
  'year': 2022,
  'volume': '428',
  'issue': None,
  'pages': '113895',
  'pmid': '35439523',
  'pmcid': None,
  'doi': '10.1016/j.bbr.2022.113895',
  'publication_types': ['Journal Article',
                        "Research Support, N.I.H., Extramural (truncated label 'Research Support, N...' "
                        'seen)'],
  'population_condition': 'predator-based psychosocial stress PTSD model',
  'study_design': 'preclinical experiment',
  'ketamine_route': 'intraperitoneal (10 or 15 mg/kg)',
  'comparator': 'vehicle',
  'databases_likely': ['pubmed', 'embase', 'psycinfo'],
  'description': 'Rat study in which peritraumatic ketamine prevented later anxiety/hyperarousal in a '
                 'sex-dependent way.'},
 {'key': 'K020',
  'record_kind': 'trial_protocol',
  'title': 'Intranasal Ketamine as an Adjunct to Fentanyl for the Prehospital Treatment of Acute Traumatic '
           'Pain: Design and Rationale of a Randomized Controlled Trial.',
  'authors': ['McMullan J', 'Droege C', 'Strilka R', 'Hart K', 'Lindsell C'],
  'authors_complete': True,
  'journal': 'Prehospital Emergency Care',
  'journal_abbrev': 'Prehosp Emerg Care',
  'year': 2021,
  'volume': '25',
  'issue': '4',
  'pages': '519-529',
  'pmid': '32772873',
  'pmcid': None,
  'doi': '10.1080/10903127.2020.1808746',
  'registration': 'NCT02866071',
  'publication_types': ['Randomized Controlled Trial (metajournal label)'],
  'population_condition': 'prehospital adults with acute traumatic pain',
  'study_design': 'RCT design/rationale paper (protocol)',
  'ketamine_route': 'intranasal',
  'comparator': 'fentanyl alone',
  'databases_likely': ['pubmed', 'embase'],
  'description': 'Protocol for a prehospital RCT whose follow-up study measures PTSD development at 90 '
                 'days.'}]
)


def _load_builder() -> ModuleType:
    """Import tools/build_search_snapshot.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("build_search_snapshot", ROOT / "tools" / "build_search_snapshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_search_snapshot"] = module
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _evidence_dir(tmp: Path, records: list[dict[str, Any]]) -> Path:
    folder = tmp / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "records.json").write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder


def _build(tmp: Path, records: list[dict[str, Any]] = EVIDENCE, *, force: bool = False) -> Path:
    out = tmp / "resources"
    builder.build(evidence_dir=_evidence_dir(tmp, records), out=out, config_path=ROOT / "config" / "config.yaml", force=force)
    return out


def _all_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("a"))


def _coverage(out: Path) -> dict[str, dict[str, str]]:
    return {row["key"]: row for row in read_tsv(out / "snapshot_coverage.tsv")}


def test_two_builds_give_identical_bytes(built: Path, tmp_path: Path) -> None:
    again = _build(tmp_path)
    first, second = _all_bytes(built), _all_bytes(again)
    assert sorted(first) == [
        "searches/2025-09-30/clinicaltrials.csv",
        "searches/2025-09-30/embase.ris",
        "searches/2025-09-30/manifest.json",
        "searches/2025-09-30/psycinfo.ris",
        "searches/2025-09-30/pubmed.xml.gz",
        "snapshot_coverage.tsv",
    ]
    assert first == second


def test_every_record_goes_where_the_curation_says(built: Path) -> None:
    cov = _coverage(built)
    assert sorted(cov) == sorted(e["key"] for e in EVIDENCE)
    assert cov["K071"]["record_ids"].split("; ")[0] == "pubmed:24740528"
    assert cov["K071"]["files"] == "pubmed.xml.gz; embase.ris; psycinfo.ris"
    assert cov["K072"]["files"] == "embase.ris; psycinfo.ris"
    assert "no PMID was curated" in cov["K072"]["omitted"]
    assert cov["K049"]["files"] == "psycinfo.ris"
    assert cov["K041"]["record_ids"] == "clinicaltrials:NCT00749203"
    assert cov["K069"]["files"] == "" and "ACTRN12625000722493" in cov["K069"]["reason"]
    assert cov["K070"]["files"] == "" and cov["K070"]["reason"].startswith("preprint")
    assert cov["K067"]["files"] == "" and "without inventing a PMID" in cov["K067"]["reason"]
    for row in cov.values():
        assert bool(row["files"]) != bool(row["reason"]), row["key"]
    manifest = verify_run(built / "searches" / "2025-09-30")
    counts = {f.name: f.count_in_file for f in manifest.files}
    assert counts == {"clinicaltrials.csv": 1, "embase.ris": 4, "psycinfo.ris": 4, "pubmed.xml.gz": 3}


def test_record_ids_and_lines_point_into_the_files(built: Path) -> None:
    run = built / "searches" / "2025-09-30"
    texts = {
        "pubmed.xml.gz": gzip.decompress((run / "pubmed.xml.gz").read_bytes()).decode("utf-8"),
        "embase.ris": (run / "embase.ris").read_text(encoding="utf-8"),
        "psycinfo.ris": (run / "psycinfo.ris").read_text(encoding="utf-8"),
        "clinicaltrials.csv": (run / "clinicaltrials.csv").read_text(encoding="utf-8"),
    }
    for row in _coverage(built).values():
        if not row["files"]:
            continue
        for rid, loc in zip(row["record_ids"].split("; "), row["locations"].split("; ")):
            name, line = loc.rsplit(":", 1)
            first_line = texts[name].splitlines()[int(line) - 1]
            if name == "pubmed.xml.gz":
                assert first_line.strip() == "<PubmedArticle>"
                assert f"<PMID Version=\"1\">{rid.split(':')[1]}</PMID>" in texts[name].splitlines()[int(line) + 1]
            elif name == "clinicaltrials.csv":
                assert first_line.startswith(rid.split(":")[1] + ",")
            else:
                assert first_line == "TY  - JOUR" or first_line == "TY  - THES"
                ordinal = int(rid.split("#")[1])
                starts = [i for i, t in enumerate(texts[name].splitlines(), 1) if t.startswith("TY  - ")]
                assert starts[ordinal - 1] == int(line)


def test_curator_annotations_are_cleaned(built: Path) -> None:
    xml = gzip.decompress((built / "searches" / "2025-09-30" / "pubmed.xml.gz").read_bytes())
    root = etree.fromstring(xml)
    types = {
        a.findtext("MedlineCitation/PMID"): [p.text for p in a.iterfind(".//PublicationType")]
        for a in root.iterfind("PubmedArticle")
    }
    assert types["32772873"] == ["Randomized Controlled Trial"]  # "(metajournal label)" removed
    assert types["35439523"] == ["Journal Article"]  # the truncated "Research Support, N..." label dropped
    assert b"(metajournal label)" not in xml and b"truncated" not in xml


def test_no_evidence_text_beyond_the_curated_fields(built: Path) -> None:
    run = built / "searches" / "2025-09-30"
    blob = gzip.decompress((run / "pubmed.xml.gz").read_bytes()).decode("utf-8")
    blob += "".join((run / n).read_text(encoding="utf-8") for n in ("embase.ris", "psycinfo.ris", "clinicaltrials.csv"))
    flat = " ".join(blob.split())
    for ev in EVIDENCE:
        assert ev["description"] not in flat, ev["key"]
    # the summary carries the four curated fields verbatim, with their labels
    feder = next(e for e in EVIDENCE if e["key"] == "K071")
    expected = (
        f"Design: {feder['study_design']}. Population: {feder['population_condition']}. "
        f"Ketamine route: {feder['ketamine_route']}. Comparator: {feder['comparator']}."
    )
    assert expected in flat


def test_existing_run_is_kept_unless_forced(built: Path, tmp_path: Path) -> None:
    out = _build(tmp_path)
    fewer = [e for e in EVIDENCE if e["key"] != "K072"]
    with pytest.raises(ArchiveError, match="different bytes"):
        _build(tmp_path, fewer)
    assert {f.name: f.count_in_file for f in load_manifest(out / "searches" / "2025-09-30").files}["embase.ris"] == 4  # untouched
    _build(tmp_path, fewer, force=True)
    manifest = verify_run(out / "searches" / "2025-09-30")
    assert {f.name: f.count_in_file for f in manifest.files}["embase.ris"] == 3
    assert not [p for p in (out / "searches").iterdir() if p.name.startswith(".")]


def test_cli_exit_codes(tmp_path: Path) -> None:
    evidence = _evidence_dir(tmp_path, EVIDENCE)
    assert builder.main(["--evidence", str(evidence), "--out", str(tmp_path / "res")]) == 0
    assert builder.main(["--evidence", str(tmp_path / "missing"), "--out", str(tmp_path / "res2")]) == 1
    assert not (tmp_path / "res2" / "searches" / "2025-09-30").exists()
