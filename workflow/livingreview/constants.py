"""Field names, stage names, outcome labels and PRISMA keys, defined once for every module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# --- records.tsv (results/records/records.tsv) -------------------------------------------
# One row per record of every archived run. Multi-valued fields are joined with LIST_SEP.
LIST_SEP = "; "
RECORD_FIELDS: tuple[str, ...] = (
    "record_id",  # "<database>:<native id>"; native id = PMID, accession, NCT id, or "<run_id>#<n>"
    "run_id",  # folder name under resources/searches/
    "database",  # one of DATABASES
    "native_id",  # the id as the source gave it ("" when the export had none)
    "pmid",
    "doi",  # normalised: lower case, no URL prefix
    "title",
    "abstract",
    "authors",  # "Surname AB; Surname CD" (as the source wrote them, joined by LIST_SEP)
    "journal",
    "journal_abbrev",
    "year",
    "volume",
    "issue",
    "pages",
    "publication_types",
    "mesh",
    "keywords",
    "language",
    "registration",  # trial registry ids found in the record (NCT..., ACTRN..., ...)
    "source_file",  # path of the archived file, relative to the project root
    "source_line",  # 1-based line in the (decompressed) file where the record starts
    "encoding",  # text encoding the file was read with
)

# --- databases and registers ----------------------------------------------------------------
# Order = preference for a cluster's canonical record (issue 3): PubMed first, then OVID
# MEDLINE, Embase, PsycINFO, registers, others; ties by record_id.
DATABASES: tuple[str, ...] = (
    "pubmed",
    "medline",
    "embase",
    "psycinfo",
    "clinicaltrials",
    "ictrp",
    "other",
)
REGISTERS: frozenset[str] = frozenset({"clinicaltrials", "ictrp"})

# --- audit ledger (results/audit/ledger.tsv) --------------------------------------------------
LEDGER_FIELDS: tuple[str, ...] = (
    "record_id",
    "cluster_id",
    "stage",
    "outcome",
    "reason",
    "reference",  # file:line, canonical record_id, rule id, decisions.tsv:line, study_id
    "evidence",  # field and matched text, or other human-readable evidence
)
STAGES: tuple[str, ...] = (
    "identification",
    "dedup",
    "automation",
    "title_abstract",
    "retrieval",
    "full_text",
    "study",
)
STAGE_ORDER: dict[str, int] = {s: i for i, s in enumerate(STAGES)}  # a stage's place in STAGES
# Outcomes per stage. The last ledger row of a record is its final state.
OUTCOME_IDENTIFIED = "identified"
OUTCOME_CANONICAL = "canonical"
OUTCOME_DUPLICATE = "duplicate"
OUTCOME_PASSED = "passed"
OUTCOME_EXCLUDED = "excluded"
OUTCOME_INCLUDED = "included"
OUTCOME_AWAITING = "awaiting_decision"
OUTCOME_RETRIEVED = "retrieved"
OUTCOME_NOT_RETRIEVED = "not_retrieved"
# The outcome a record must have at a stage to go on to the next one.
PASSING_OUTCOMES: dict[str, str] = {
    "identification": OUTCOME_IDENTIFIED,
    "dedup": OUTCOME_CANONICAL,
    "automation": OUTCOME_PASSED,
    "title_abstract": OUTCOME_INCLUDED,
    "retrieval": OUTCOME_RETRIEVED,
    "full_text": OUTCOME_INCLUDED,
}
FINAL_OUTCOMES: frozenset[str] = frozenset(
    {OUTCOME_DUPLICATE, OUTCOME_EXCLUDED, OUTCOME_INCLUDED, OUTCOME_AWAITING, OUTCOME_NOT_RETRIEVED}
)

# --- dedup (results/dedup/clusters.tsv, maybe_pairs.tsv) --------------------------------------
CLUSTER_FIELDS: tuple[str, ...] = ("record_id", "cluster_id", "canonical_id", "rule", "score")
MAYBE_PAIR_FIELDS: tuple[str, ...] = ("record_a", "record_b", "rule", "score", "fields")
DEDUP_DECISION_FIELDS: tuple[str, ...] = ("record_a", "record_b", "decision", "reviewer", "date", "note")

# --- screening (results/screening/screening.tsv, resources/screening/decisions.tsv) ----------
SCREENING_FIELDS: tuple[str, ...] = (
    "cluster_id",
    "record_id",  # canonical record of the cluster
    "stage",  # automation | title_abstract | full_text
    "decision",  # passed | excluded | included | awaiting_decision
    "source",  # rule | human
    "reference",  # rule id or decisions.tsv:line
    "reason",
    "evidence",  # "<field>[start:end]: matched text"
)
DECISION_FIELDS: tuple[str, ...] = ("key", "stage", "decision", "reason", "reviewer", "date", "note")
DECISION_STAGES: tuple[str, ...] = ("title_abstract", "full_text")

# --- PRISMA 2020 (names of the PRISMA2020 R package) -------------------------------------------
PRISMA_KEYS: tuple[str, ...] = (
    "previous_studies",
    "previous_reports",
    "database_results",
    "register_results",
    "duplicates",
    "excluded_automatic",
    "excluded_other",
    "records_screened",
    "records_excluded",
    "dbr_sought_reports",
    "dbr_notretrieved_reports",
    "dbr_assessed",
    "dbr_excluded",
    "new_studies",
    "new_reports",
    "total_studies",
    "total_reports",
)

# --- synthesis ------------------------------------------------------------------------------
EFFECT_FIELDS: tuple[str, ...] = ("study", "analysis", "measure", "yi", "vi", "how")
POOL_JSON_KEYS: tuple[str, ...] = (
    "method",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "h2",
    "q",
    "q_p",
    "hksj",
    "hksj_adhoc",
)
# What a value of outcomes.tsv's favours column means, in the effect-direction plot's legend and in
# `trace`; "intervention" is said with the intervention's name (config synthesis.intervention_label).
DIRECTION_WORDS: dict[str, str] = {
    "control": "favours control",
    "none": "no difference reported",
    "mixed": "mixed / conflicting",
    "unclear": "direction unclear",
    "not_reported": "not reported",
}


# How a studies.tsv column that a subgroup analysis is by (config synthesis.analyses[].subgroups) reads in
# prose and plots; config synthesis.subgroup_labels adds labels or replaces these (column_label).
SUBGROUP_LABELS: dict[str, str] = {
    "dose": "dose",
    "infusions": "single or repeated infusions",
    "comparator_type": "active or inactive comparator",
    "comparator": "comparator",
    "crossover": "crossover or parallel design",
    "design": "design",
    "co_intervention": "co-intervention",
}


def column_label(column: str, labels: Mapping[str, str] | None = None) -> str:
    """A subgroup column in words: config synthesis.subgroup_labels (``labels``), else SUBGROUP_LABELS, else
    the column name with "_" as spaces ("comparator_type" -> "active or inactive comparator")."""
    return str((labels or {}).get(column) or SUBGROUP_LABELS.get(column) or column.replace("_", " "))


def subgroup_label(column: str, subgroup: Mapping[str, Any]) -> str:
    """A subgroup analysis's column in words: the ``label`` its analysis JSON entry holds (meta.analyse), else column_label."""
    return str(subgroup.get("label") or column_label(column))


def direction_words(favours: str, intervention: str) -> str:
    """A favours value in words: "favours <intervention>", "no difference reported", "direction unclear" (also for "")."""
    if favours == "intervention":
        return f"favours {intervention}"
    return DIRECTION_WORDS.get(favours or "unclear", f"favours {favours}")


def hksj_words(hksj: bool, hksj_adhoc: bool, *, long: bool = False) -> str:
    """How the standard error and CI were made, for people: "" without Knapp-Hartung, else which variant.

    Short (plot labels, one-line summaries): "Knapp-Hartung, ad hoc correction" or "Knapp-Hartung, no ad hoc correction".
    Long (methods sections): the same with what the correction does and metafor's name for it.
    """
    if not hksj:
        return ""
    if not long:
        return "Knapp-Hartung, ad hoc correction" if hksj_adhoc else "Knapp-Hartung, no ad hoc correction"
    if hksj_adhoc:
        return ("a Knapp-Hartung standard error with the ad hoc correction (its scaling factor is at least 1, so the standard "
                "error is never below the random-effects one; Knapp & Hartung 2003; Röver, Knapp & Friede 2015; "
                'metafor test="adhoc")')
    return ("a Knapp-Hartung standard error without the ad hoc correction (it can be smaller than the random-effects "
            'standard error when the studies agree closely; metafor test="knha")')


# Fixed float format for every table and JSON number we write (same inputs, same bytes).
FLOAT_FORMAT = "{:.6g}"


# ---- How effects are shown (light: report and trace use these without importing scipy) ----------

DEFAULT_INTERVENTION = "intervention"
RATIO_NAMES = {"RR": "risk ratio", "OR": "odds ratio"}
LOG_SCALE_MEASURES = frozenset(RATIO_NAMES)  # the measures pooled as log ratios


def ratio_direction_note(measure: str, intervention: str = DEFAULT_INTERVENTION, *, lower_is_better: bool | None = False) -> str:
    """How to read a ratio as plots and the report show it: always intervention / control (the ratio
    itself, never the harmonised exp(yi)), so which side favours the intervention follows the outcome:
    above 1 when more events are better (response), below 1 when fewer are (relapse, an adverse event)."""
    name = RATIO_NAMES[measure]
    if lower_is_better:
        return f"{name.capitalize()}s below 1 favour {intervention} ({name} = {intervention} / control; fewer events are better)"
    return f"{name.capitalize()}s above 1 favour {intervention} ({name} = {intervention} / control)"


def shown_sign(summary: Mapping[str, Any]) -> float:
    """-1.0 when an analysis's harmonised yi is the negative of what is shown, else 1.0.

    Every yi is harmonised so that positive favours the intervention (one convention for pooling).
    A ratio of an outcome where lower is better (relapse, an adverse event) is then
    log(control / intervention); plots, the report and trace show the ratio intervention / control,
    exp(-yi), with its CI limits swapped. ``summary`` is an analysis JSON (meta.analyse): its
    ``log_scale`` and ``lower_is_better`` (the direction its studies' outcome rows share)."""
    return -1.0 if summary.get("log_scale") and summary.get("lower_is_better") else 1.0


def shown_interval(est: float | None, lo: float | None, hi: float | None, sign: float) -> tuple[float | None, float | None, float | None]:
    """A harmonised estimate and CI as shown (``sign`` from shown_sign): negated, limits swapped, when sign is -1."""
    if sign > 0:
        return est, lo, hi
    flip = [None if x is None else -float(x) for x in (est, hi, lo)]
    return flip[0], flip[1], flip[2]


def window_text(window: Mapping[str, Any] | None, after: str = "") -> str:
    """'1 to 14 days' (then ``after``, e.g. ' after the start of the intervention') for a timepoint_days window."""
    if not window:
        return "any timepoint"
    lo, hi = window.get("min"), window.get("max")
    if lo is not None and hi is not None:
        return f"{float(lo):g} to {float(hi):g} days{after}"
    return f"from {float(lo):g} days{after}" if lo is not None else f"up to {float(hi):g} days{after}"


def shown_groups(subgroup: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """A subgroup analysis's groups (meta.subgroup_analysis) as the report and the forest plot show
    them: reported subgroups by name, then the studies with no value (``reported`` false, not in the test)."""
    return sorted((subgroup.get("groups") or {}).items(), key=lambda item: (item[1].get("reported") is False, item[0]))


def wald_test_beside_knapp_hartung(summary: Mapping[str, Any], subgroup: Mapping[str, Any]) -> bool:
    """Whether the test for subgroup differences used Wald SEs while the subgroup CIs shown are Knapp-Hartung
    (then the report and the forest plot say which SEs the test used)."""
    return subgroup.get("test_se") == "wald" and bool(summary.get("hksj"))


def yi_name(measure: str, lower_is_better: bool | None) -> str:
    """What a harmonised yi is: the measure itself (MD, SMD, RD), 'log RR', or '-log RR' (log control /
    intervention) for a ratio of a lower-is-better outcome (shown_sign)."""
    if measure not in LOG_SCALE_MEASURES:
        return measure
    return f"{'-log' if lower_is_better else 'log'} {measure}"
