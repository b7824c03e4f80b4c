"""`livingreview trace KEY`: the whole path of a record or study, from archived file and line to analyses."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from .constants import LIST_SEP, STAGE_ORDER, direction_words, shown_interval, shown_sign, yi_name
from .decisions import PMID_DATABASES
from .errors import ConfigError
from .logutil import show_controls
from .normalize import normalize_doi
from .runs import list_runs, load_manifest
from .studies import split_keys
from .tables import format_fixed, read_json, read_tsv


def _optional(path: Path, required: tuple[str, ...] = ()) -> list[dict[str, str]]:
    return read_tsv(path, required=required) if path.exists() else []


def _analysis_files(results: Path) -> dict[str, Any]:
    """Every results/synthesis/*.json, parsed (file name -> content); a broken file names its line."""
    out: dict[str, Any] = {}
    folder = results / "synthesis"
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        out[str(path)] = read_json(path, fix="re-run the synthesis stage")
    return out


def _analyses(files: dict[str, Any], key: str = "studies") -> dict[str, list[str]]:
    """study_id -> analysis files (results/synthesis/*.json whose ``studies`` list names it; with
    key="not_estimable", those that draw the study as a not-estimable row)."""
    out: dict[str, list[str]] = defaultdict(list)
    for path, data in files.items():
        studies = data.get(key) if isinstance(data, dict) else None
        for item in studies or ():
            sid = item if isinstance(item, str) else (item.get("study_id") or item.get("study") if isinstance(item, dict) else None)
            if sid and str(path) not in out[str(sid)]:
                out[str(sid)].append(str(path))
    return out


def found_again(runs_root: str | os.PathLike[str] | None) -> dict[str, list[dict[str, str]]]:
    """record_id -> the later runs that met the record again, from the manifests under ``runs_root``:
    ``{"run_id", "file", "archived_by", "how"}``, in run order. An export that holds a record an
    earlier run archived lists it in ``already_archived`` (the import leaves it out); a live search
    lists what it found but did not write in ``found_again``. {} when ``runs_root`` is None or absent."""
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    if runs_root is None or not Path(runs_root).is_dir():
        return out
    for run_dir in list_runs(runs_root):
        manifest = load_manifest(run_dir)
        for f in sorted(manifest.files, key=lambda x: x.name):
            for listed, how in ((f.already_archived, "in the file; left out by the import"), (f.found_again, "found by the search; not written to the file")):
                for rid, run in sorted(listed.items()):
                    out[rid].append({"run_id": manifest.run_id, "file": f.name, "archived_by": run, "how": how})
    return out


class _Tables:
    """The result tables trace reads, indexed."""

    def __init__(
        self,
        results: Path,
        studies_table: str | os.PathLike[str] | None,
        outcomes_table: str | os.PathLike[str] | None = None,
        runs_root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.results = results
        if not (results / "records" / "records.tsv").exists() and not (results / "audit" / "ledger.tsv").exists():
            raise ConfigError(
                f"no built review here (trace reads {results / 'records' / 'records.tsv'} and {results / 'audit' / 'ledger.tsv'}, "
                f"from the folder {Path.cwd()})",
                where=str(results),
                fix="run livingreview trace in the review's folder after make review (or snakemake), or pass --results DIR",
            )
        self.records = {r["record_id"]: r for r in read_tsv(results / "records" / "records.tsv", required=("record_id",))}
        self.clusters = {r["record_id"]: r for r in read_tsv(results / "dedup" / "clusters.tsv", required=("record_id", "cluster_id", "canonical_id"))}
        self.ledger: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in read_tsv(results / "audit" / "ledger.tsv", required=("record_id", "stage", "outcome")):
            row.pop("_line", None)
            self.ledger[row["record_id"]].append(row)
        for rows in self.ledger.values():
            rows.sort(key=lambda r: STAGE_ORDER.get(r["stage"], 99))
        self.members: dict[str, list[str]] = defaultdict(list)
        for rid, row in sorted(self.clusters.items()):
            self.members[row["cluster_id"]].append(rid)
        self.reports = {r["cluster_id"]: r for r in _optional(results / "studies" / "reports.tsv", ("record_id", "cluster_id", "study_id", "role"))}
        self.included = {r["study_id"]: r for r in _optional(results / "studies" / "included_studies.tsv", ("study_id",))}
        self.study_table = {r["study_id"]: r for r in _optional(Path(studies_table), ("study_id", "reports"))} if studies_table else {}
        self.analysis_files = _analysis_files(results)
        self.analyses = _analyses(self.analysis_files)
        self.not_estimable_in = _analyses(self.analysis_files, "not_estimable")
        self.studies_path = studies_table
        self.outcomes_path = outcomes_table
        self.direction = _optional(results / "synthesis" / "effect_direction.tsv", ("study_id", "domain", "outcome_ids"))
        self._numbers: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, set[str]] = defaultdict(set)
        for rid, rec in self.records.items():
            registrations = [r for r in rec.get("registration", "").split(LIST_SEP) if r]
            for k in (rid, rec.get("pmid", ""), rec.get("doi", ""), *registrations):
                if k:
                    self.keys[k.lower()].add(rid)
            db, _, native = rid.partition(":")
            if (db in PMID_DATABASES and native.isdigit()) or native.upper().startswith("NCT"):
                self.keys[native.lower()].add(rid)
        self.study_ids = {sid.lower(): sid for sid in (*self.study_table, *self.included)}
        self.found_again = found_again(runs_root)

    def find(self, key: str) -> list[str]:
        """record_ids a key names, sorted: a record_id, a PMID (also "PMID:24740528"), a DOI (any case,
        also as a doi.org URL or "doi:..."), or a trial registration (NCT00749203)."""
        low = key.strip().lower()
        if low.startswith(("pmid:", "pmid ")):
            low = low[5:].strip()
        found = self.keys.get(low) or self.keys.get(normalize_doi(key)) or set()
        return sorted(found)

    def numbers(self, study_id: str) -> dict[str, Any]:
        """The study's outcomes.tsv rows and every plotted number with the row behind it (cached)."""
        if study_id not in self._numbers:
            self._numbers[study_id] = study_numbers(
                study_id, results=self.results, analysis_files=self.analysis_files, direction_rows=self.direction,
                studies_path=self.studies_path, outcomes_path=self.outcomes_path,
            )
        return self._numbers[study_id]


def study_numbers(
    study_id: str,
    *,
    results: Path,
    analysis_files: dict[str, Any],
    direction_rows: list[dict[str, str]],
    studies_path: str | os.PathLike[str] | None,
    outcomes_path: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    """The numbers of one study and where each was read.

    Returns {"outcomes": [...], "plotted": [...]}: ``outcomes`` are its outcomes.tsv rows
    (effects.trace_study_numbers: outcome_id, ``reference`` = outcomes.tsv:LINE, statistic, value,
    the analyses each feeds); ``plotted`` has one entry per number drawn in a figure: each forest
    plot row (analysis, harmonised yi and 95% CI, weight) and each effect-direction cell, with the
    outcome_id(s) and outcomes.tsv:LINE reference(s) behind it. Empty lists when the tables are absent.
    """
    from .effects import trace_study_numbers

    outcomes: list[dict[str, Any]] = []
    if outcomes_path and studies_path and Path(outcomes_path).exists() and Path(studies_path).exists():
        effects = results / "synthesis" / "effects.tsv"
        outcomes = trace_study_numbers(study_id, outcomes_path=outcomes_path, studies_path=studies_path, effects_path=effects if effects.exists() else None)
    ref = {o["outcome_id"]: o["reference"] for o in outcomes}
    plotted: list[dict[str, Any]] = []
    for path, data in analysis_files.items():
        if not isinstance(data, dict):
            continue
        for item in data.get("studies") or ():
            if isinstance(item, dict) and item.get("study") == study_id and item.get("yi") is not None:
                oid = str(item.get("outcome_id") or "")
                plotted.append({
                    "figure": f"{Path(path).with_suffix('')}_forest.svg",
                    "analysis": str(data.get("analysis", Path(path).stem)),
                    "summary": path,
                    "measure": data.get("measure", ""),
                    "log_scale": bool(data.get("log_scale")),
                    # a ratio of a lower-is-better outcome: yi is log(control / intervention), shown as intervention / control
                    "shown_sign": shown_sign(data),
                    "yi": item["yi"],
                    "ci_low": item.get("ci_low"),
                    "ci_high": item.get("ci_high"),
                    "weight": item.get("weight"),
                    # how yi and its CI were derived from the row as reported (e.g. the reported CI, vi from it)
                    "how": str(item.get("how") or ""),
                    "outcome_ids": [oid] if oid else [],
                    "references": [ref.get(oid, "")] if oid else [],
                })
        # the forest plot also draws a "Not estimable" row, with its reason, for each of these
        for item in data.get("not_estimable") or ():
            if isinstance(item, dict) and item.get("study") == study_id:
                oid = str(item.get("outcome_id") or "")
                plotted.append({
                    "figure": f"{Path(path).with_suffix('')}_forest.svg",
                    "analysis": str(data.get("analysis", Path(path).stem)),
                    "summary": path,
                    "not_estimable": str(item.get("reason") or "no reason recorded"),
                    "outcome_ids": [oid] if oid else [],
                    "references": [ref.get(oid, "")] if oid else [],
                })
    # the intervention's name as the analyses recorded it (config synthesis.intervention_label)
    label = next((str(d["intervention_label"]) for d in analysis_files.values() if isinstance(d, dict) and d.get("intervention_label")), "")
    for row in direction_rows:
        # a cell without outcome_ids (nothing reported) is drawn too: "-" for not reported
        if row["study_id"] != study_id:
            continue
        oids = split_keys(row["outcome_ids"])
        favours = row.get("favours", "")
        plotted.append({
            "figure": str(results / "synthesis" / "effect_direction.svg"),
            "analysis": f"effect direction: {row['domain']}",
            "summary": f"{results / 'synthesis' / 'effect_direction.tsv'}:{row['_line']}",
            "favours": label if favours == "intervention" and label else favours,
            "significant": row.get("significant", ""),
            "value": row.get("summary", ""),
            "outcome_ids": oids,
            "references": [ref.get(o, "") for o in oids],
        })
    return {"outcomes": outcomes, "plotted": plotted}


def _cluster_trace(t: _Tables, cluster_id: str, matched: list[str]) -> dict[str, Any]:
    members = []
    canonical_id = ""
    for rid in t.members.get(cluster_id, []):
        rec = t.records.get(rid, {})
        cl = t.clusters[rid]
        canonical_id = cl["canonical_id"]
        rows = t.ledger.get(rid, [])
        members.append(
            {
                "record_id": rid,
                "matched": rid in matched,
                "database": rec.get("database", ""),
                "run_id": rec.get("run_id", ""),
                "source": f"{rec.get('source_file', '')}:{rec.get('source_line', '')}",
                "title": rec.get("title", ""),
                "year": rec.get("year", ""),
                "pmid": rec.get("pmid", ""),
                "doi": rec.get("doi", ""),
                "dedup_rule": cl.get("rule", ""),
                "dedup_score": cl.get("score", ""),
                # later runs that met this record again and left it out (it is archived once)
                "found_again": t.found_again.get(rid, []),
                "final": ({k: rows[-1][k] for k in ("stage", "outcome", "reason", "reference")} if rows else {}),
                # the record's own ledger rows (for a duplicate: identification and the dedup row naming
                # its canonical record and the link that made it one; the path below is the canonical's)
                "own_path": [{k: r.get(k, "") for k in ("stage", "outcome", "reason", "reference", "evidence")} for r in rows],
            }
        )
    path = [{k: r.get(k, "") for k in ("stage", "outcome", "reason", "reference", "evidence")} for r in t.ledger.get(canonical_id, [])]
    report = t.reports.get(cluster_id)
    study: dict[str, Any] | None = None
    analyses: list[str] = []
    not_estimable_in: list[str] = []
    if report:
        sid = report["study_id"]
        inc = t.included.get(sid, {})
        study = {"study_id": sid, "role": report["role"], "record_ids": [x for x in inc.get("record_ids", "").split(LIST_SEP) if x], **t.numbers(sid)}
        analyses = t.analyses.get(sid, [])
        not_estimable_in = t.not_estimable_in.get(sid, [])
    return {
        "cluster_id": cluster_id,
        "canonical_id": canonical_id,
        "members": members,
        "path": path,
        "final": path[-1] if path else {},
        "study": study,
        "analyses": analyses,
        "not_estimable_in": not_estimable_in,
    }


def trace(
    key: str,
    *,
    results_dir: str | os.PathLike[str] = "results",
    studies_table: str | os.PathLike[str] | None = "resources/extraction/studies.tsv",
    outcomes_table: str | os.PathLike[str] | None = "resources/extraction/outcomes.tsv",
    runs_root: str | os.PathLike[str] | None = "resources/searches",
) -> dict[str, Any]:
    """The whole path of a record (record_id, PMID or DOI) or a study (study_id).

    Returns {"key", "kind": "record"|"study", "clusters": [...], "study"?: {...}}; each cluster has
    its members (database, run, archived ``file:line``, dedup rule and score, final state), the
    ledger path of its canonical record (every rule and decision with its decisions.tsv line), the
    study it is a report of and the analyses (results/synthesis/*.json) that use that study.
    A study (and the study of an included report) also carries ``outcomes`` (its outcomes.tsv
    rows, each with ``reference`` = outcomes.tsv:LINE) and ``plotted`` (every number drawn in a
    forest or effect-direction plot with the outcomes.tsv row(s) behind it); see study_numbers.
    Each member also lists the later runs under ``runs_root`` that met it again (found_again).
    Raises ConfigError when the key matches nothing.
    """
    t = _Tables(Path(results_dir), studies_table, outcomes_table, runs_root)
    key = key.strip()
    key = t.study_ids.get(key.lower(), key)  # a study_id in any case (feder2014)
    if key in t.included or key in t.study_table:
        inc = t.included.get(key)
        clusters: list[str] = []
        if inc:
            for rid in inc.get("record_ids", "").split(LIST_SEP):
                if rid and rid in t.clusters and t.clusters[rid]["cluster_id"] not in clusters:
                    clusters.append(t.clusters[rid]["cluster_id"])
        else:
            for k in split_keys(t.study_table[key].get("reports", "")):
                for rid in t.find(k):
                    cid = t.clusters[rid]["cluster_id"] if rid in t.clusters else ""
                    if cid and cid not in clusters:
                        clusters.append(cid)
        return {
            "key": key,
            "kind": "study",
            "study": {
                "study_id": key,
                "included": inc is not None,
                "primary_record_id": (inc or {}).get("primary_record_id", ""),
                "n_reports": int((inc or {}).get("n_reports") or 0),
                "analyses": t.analyses.get(key, []),
                "not_estimable_in": t.not_estimable_in.get(key, []),
                **t.numbers(key),
            },
            "clusters": [_cluster_trace(t, c, []) for c in clusters],
        }
    matched = t.find(key)
    if not matched:
        low = key.lower()
        similar = sorted(sid for lowered, sid in t.study_ids.items() if low and low in lowered)
        hint = f"did you mean the study {' or '.join(similar)}? otherwise give " if similar else "give "
        raise ConfigError(
            f"no record or study matches {key!r}",
            where=str(Path(results_dir) / "records" / "records.tsv"),
            fix=hint + "a record_id (pubmed:24740528), a PMID, a DOI, a trial registration (NCT...) or a study_id; run the workflow first if results/ is empty",
        )
    clusters = sorted({t.clusters[rid]["cluster_id"] for rid in matched if rid in t.clusters})
    return {"key": key, "kind": "record", "matched": matched, "ambiguous": len(clusters) > 1,
            "clusters": [_cluster_trace(t, c, matched) for c in clusters]}


def marker_legend(data: dict[str, Any]) -> str:
    """The line saying what the marks before each cluster member mean, naming only the marks the trace
    shows ('*' a record the key matches, '-' any other); "" when it shows no cluster member."""
    matched = [bool(m["matched"]) for c in data["clusters"] for m in c["members"]]
    parts = []
    if any(matched):
        parts.append("* a record the key matches")
    if not all(matched):
        parts.append("- another record of its duplicate cluster" if data["kind"] == "record" else "- a record of one of the study's reports")
    return f"  ({'; '.join(parts)})" if parts else ""


def format_trace(data: dict[str, Any]) -> str:
    """The trace as indented plain text for people (control characters shown as \\xNN)."""
    lines: list[str] = []
    if data["kind"] == "study":
        st = data["study"]
        status = f"included ({st['n_reports']} report(s), primary {st['primary_record_id']})" if st["included"] else "not included"
        lines.append(f"study {st['study_id']}: {status}")
        if st["analyses"]:
            lines.append("  analyses: " + ", ".join(st["analyses"]))
        lines += _format_numbers(st, indent="  ")
        if st.get("not_estimable_in"):
            lines.append("  drawn as not estimable in: " + ", ".join(st["not_estimable_in"]))
    else:
        lines.append(f"{data['key']}: matches {', '.join(data['matched'])}")
        if data.get("ambiguous"):
            lines.append(
                f"  the key names {len(data['matched'])} records in {len(data['clusters'])} separate clusters (not duplicates of each other, "
                "e.g. a trial registration and a report that cites it); each is traced below"
            )
    legend = marker_legend(data)
    for c in data["clusters"]:
        lines.append(f"cluster {c['cluster_id']} (canonical {c['canonical_id']}, {len(c['members'])} record(s))")
        if legend and c["members"]:
            lines.append(legend)  # once, above the first marked line
            legend = ""
        for m in c["members"]:
            mark = "*" if m["matched"] else "-"
            final = m["final"]
            lines.append(f"  {mark} {m['record_id']} [{m['database']}, run {m['run_id']}] {m['source']}")
            if m["title"]:
                year = f" ({m['year']})" if m["year"] else ""
                lines.append(f"      {m['title'][:100]}{' ...' if len(m['title']) > 100 else ''}{year}")
            lines.append(f"      dedup: {m['dedup_rule'] or '-'} {m['dedup_score']}".rstrip() + (f"; ends {final['stage']} {final['outcome']}" if final else ""))
            for again in m.get("found_again", []):
                lines.append(f"      met again by run {again['run_id']} ({again['file']}: {again['how']}, as run {again['archived_by']} archives it)")
            if m["matched"] and m["record_id"] != c["canonical_id"]:
                for r in m.get("own_path", []):
                    if r["stage"] == "dedup" and r["outcome"] == "duplicate":
                        lines.append(f"      duplicate of {r['reference'] or c['canonical_id']} (rule {r['reason'] or '-'}): {r['evidence'] or '-'}")
                lines.append(f"      not screened itself; the path below is its canonical record {c['canonical_id']}'s")
        lines.append("  path of the canonical record:")
        for r in c["path"]:
            detail = "; ".join(x for x in (r["reason"], r["reference"]) if x)
            lines.append(f"    {r['stage']:<15} {r['outcome']:<18} {detail}")
            if r["evidence"]:
                lines.append(f"    {'':<15} {r['evidence']}")
        if c["study"]:
            s = c["study"]
            lines.append(f"  study: {s['study_id']} ({s['role']} report; reports {', '.join(s['record_ids'])})")
            lines.append("  analyses: " + (", ".join(c["analyses"]) if c["analyses"] else "none"))
            if c.get("not_estimable_in"):
                lines.append("  drawn as not estimable in: " + ", ".join(c["not_estimable_in"]))
            if data["kind"] == "record":
                lines += _format_numbers(s, indent="  ")
    return show_controls("\n".join(lines)) + "\n"


def _num(x: Any) -> str:
    return "NA" if x is None else format_fixed(float(x), 2)


def _format_numbers(st: dict[str, Any], *, indent: str) -> list[str]:
    """Text lines: each plotted number with the outcomes.tsv row(s) behind it, then every outcomes.tsv row."""
    lines: list[str] = []
    plotted = st.get("plotted") or []
    if plotted:
        lines.append(f"{indent}plotted numbers (figure: value <- outcomes.tsv row):")
        for p in plotted:
            behind = "; ".join(f"{o} {r}".strip() for o, r in zip(p["outcome_ids"], p["references"])) or "no outcomes.tsv row"
            if "not_estimable" in p:
                value = f"not estimable ({p['not_estimable']})"
            elif "yi" in p:
                weight = f", weight {format_fixed(p['weight'], 1)}%" if p.get("weight") is not None else ""
                flipped = p.get("log_scale") and p.get("shown_sign", 1.0) < 0
                # the harmonised yi, named for what it is: log RR, or -log RR (= log control / intervention) when lower is better
                value = f"{yi_name(p['measure'], flipped)} {_num(p['yi'])} [{_num(p['ci_low'])}, {_num(p['ci_high'])}]{weight}"
                if p.get("log_scale") and None not in (p["yi"], p["ci_low"], p["ci_high"]):
                    est, lo, hi = shown_interval(p["yi"], p["ci_low"], p["ci_high"], -1.0 if flipped else 1.0)
                    value += f" ({p['measure']} {_num(math.exp(est))} [{_num(math.exp(lo))}, {_num(math.exp(hi))}], intervention / control)"
            else:
                # the plot's legend words; p["favours"] already names the intervention when the analyses did
                value = direction_words(p["favours"], "intervention") + (f", significant {p['significant']}" if p["significant"] else "") + (f" ({p['value']})" if p["value"] else "")
            lines.append(f"{indent}  {p['figure']} [{p['analysis']}]: {value}")
            lines.append(f"{indent}    <- {behind}")
            if p.get("how"):
                lines.append(f"{indent}    derived: {p['how']}")
    outcomes = st.get("outcomes") or []
    if outcomes:
        lines.append(f"{indent}outcomes.tsv rows ({len(outcomes)}):")
        for o in outcomes:
            used = ", ".join(f"{u['analysis']} (yi = {u.get('yi_is') or u['measure']} {_num(u['yi'])})" for u in o["used_in"])
            inferred = " INFERRED" if o["inferred"] else ""
            lines.append(f"{indent}  {o['outcome_id']} {o['reference']}: {o['domain']}, {o['scale']}, {o['timepoint']}: {o['statistic']} = {o['value']}{inferred}")
            lines.append(f"{indent}    read at: {o['location'] or '-'}" + (f"; feeds {used}" if used else ""))
    return lines
