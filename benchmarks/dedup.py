"""Deduplication benchmark: synthetic records with known duplicate clusters; time, memory, precision, recall.

Usage: python benchmarks/dedup.py [--sizes 10000,100000,1000000] [--workers 2] [--seed 1]

Every record here is synthetic (made-up words, fictitious authors, DOIs under the Crossref test
prefix 10.5555 or the bioRxiv prefix for preprints, PMIDs above 90,000,000 which PubMed has not
assigned). Each "work" is published once and copied into 0-3 other databases with the variants
real exports show: DOI missing or written as an upper-case URL, PMID missing, title case,
trailing period, square brackets, HTML markup/entities, accents, one or two typos, authors as
"Surname, A. B.", truncated author lists, journal full name vs abbreviation, pages "221-8",
year one off (online vs print), missing pages/authors. Hard negatives that must stay apart: an
erratum per 200 works ("Erratum: <title>"), a preprint per 100 works (same title, preprint DOI),
a conference abstract per 150 works (same title), a "part 2" companion paper per 100 works.

Each size runs in its own process so that peak memory (ru_maxrss) belongs to that size alone.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from livingreview.dedup import deduplicate  # noqa: E402
from livingreview.records import Record  # noqa: E402

JOURNALS: tuple[tuple[str, str], ...] = (
    ("Journal of Clinical Psychiatry", "J Clin Psychiatry"),
    ("American Journal of Psychiatry", "Am J Psychiatry"),
    ("Behavioural Brain Research", "Behav Brain Res"),
    ("European Journal of Psychotraumatology", "Eur J Psychotraumatol"),
    ("Journal of Affective Disorders", "J Affect Disord"),
    ("Psychiatry Research", "Psychiatry Res"),
    ("Frontiers in Psychiatry", "Front Psychiatry"),
    ("Journal of Psychopharmacology", "J Psychopharmacol"),
    ("Biological Psychiatry", "Biol Psychiatry"),
    ("Depression and Anxiety", "Depress Anxiety"),
    ("Journal of Traumatic Stress", "J Trauma Stress"),
    ("British Journal of Psychiatry", "Br J Psychiatry"),
    ("International Journal of Molecular Sciences", "Int J Mol Sci"),
    ("Journal of Neuroscience", "J Neurosci"),
    ("Molecular Psychiatry", "Mol Psychiatry"),
    ("Translational Psychiatry", "Transl Psychiatry"),
)
COMMON = "the of in and a for with effects study patients randomized trial treatment clinical disorder after among versus during".split()
SYLLABLES = "ka ro mi ta ne lu so ve pra di gen tor lin mar cel ost fen qui zar bel nor tem vas pol".split()
ACCENTS = {"e": "\u00e9", "o": "\u00f6", "u": "\u00fc", "a": "\u00e1"}


def make_vocab(rng: random.Random, n: int) -> list[str]:
    """Made-up words of 2-4 syllables."""
    words = {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(n * 2)}
    return sorted(words)[:n]


def make_title(rng: random.Random, vocab: list[str]) -> str:
    """A title of 6-16 words mixing common words (Zipf-like) and rare made-up words."""
    words = []
    for _ in range(rng.randint(6, 16)):
        if rng.random() < 0.35:
            words.append(COMMON[min(int(rng.paretovariate(1.2)) - 1, len(COMMON) - 1)])
        else:
            words.append(rng.choice(vocab))
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randint(3, len(words) - 1), ":")
    return " ".join(words).replace(" :", ":")


def typo(rng: random.Random, text: str) -> str:
    """One character substituted, dropped or doubled (not in the first three characters)."""
    if len(text) < 10:
        return text
    i = rng.randint(3, len(text) - 2)
    op = rng.randint(0, 2)
    if op == 0:
        return text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1 :]
    if op == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def comma_author(name: str) -> str:
    """'Surname AB' -> 'Surname, A. B.'"""
    surname, initials = name.rsplit(" ", 1)
    return f"{surname}, {' '.join(c + '.' for c in initials)}"


def generate(n_target: int, seed: int) -> tuple[list[Record], list[int]]:
    """Synthetic records and their true cluster labels."""
    rng = random.Random(seed)
    vocab = make_vocab(rng, 6000)
    surnames = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(4000)})
    records: list[Record] = []
    labels: list[int] = []
    label = 0
    work = 0
    counters: Counter[str] = Counter()

    def add(rec: Record, lab: int) -> None:
        records.append(rec)
        labels.append(lab)

    def rid(database: str) -> str:
        counters[database] += 1
        return f"{database}:2025-09-30#{counters[database]}"

    while len(records) < n_target:
        work += 1
        title = make_title(rng, vocab)
        authors = tuple(f"{rng.choice(surnames)} {''.join(rng.choice('ABCDEFGHJKLMNPRSTW') for _ in range(rng.randint(1, 2)))}" for _ in range(rng.randint(1, 8)))
        journal, abbrev = rng.choice(JOURNALS)
        year = rng.randint(1990, 2025)
        volume = str(rng.randint(1, 120))
        start = rng.randint(1, 2400)
        end = start + rng.randint(3, 15)
        pages = f"{start}-{end}"
        doi = f"10.5555/synth.{seed}.{work}"
        pmid = str(90_000_000 + work) if rng.random() < 0.8 else ""
        base = Record(
            record_id=f"pubmed:{pmid}" if pmid else rid("embase"),
            run_id="2025-09-30",
            database="pubmed" if pmid else "embase",
            pmid=pmid,
            doi=doi if rng.random() < 0.9 else "",
            title=title,
            authors=authors,
            journal=journal if not pmid else "",
            journal_abbrev=abbrev if pmid else "",
            year=str(year),
            volume=volume,
            pages=pages,
            publication_types=("Journal Article",),
        )
        label += 1
        add(base, label)
        for database in rng.sample(["medline", "embase", "psycinfo"], k=rng.choice([0, 0, 1, 1, 2, 3])):
            t = title
            r = rng.random()
            if r < 0.15:
                t = typo(rng, t)
            elif r < 0.25:
                t = t.upper()
            elif r < 0.30:
                t = "[" + t + "]."
            elif r < 0.35:
                t = "".join(ACCENTS.get(c, c) if rng.random() < 0.2 else c for c in t)
            elif r < 0.38:
                t = t.replace(" and ", " &amp; ", 1).replace(":", "<i>:</i>", 1)
            if rng.random() < 0.5:
                t += "."
            au = authors
            if rng.random() < 0.5:
                au = tuple(comma_author(a) for a in au)
            if rng.random() < 0.1 and len(au) > 3:
                au = au[:3]
            if rng.random() < 0.03:
                au = ()
            pg = pages
            if rng.random() < 0.4:
                s, e = pages.split("-")
                if len(e) == len(s):
                    k = 0
                    while k < len(s) - 1 and s[k] == e[k]:
                        k += 1
                    pg = f"{s}-{e[k:]}"
            if rng.random() < 0.1:
                pg = ""
            copy_doi = ""
            if base.doi and rng.random() < 0.6:
                copy_doi = f"https://doi.org/{base.doi.upper()}" if rng.random() < 0.3 else base.doi
            copy_pmid = pmid if database == "medline" or (pmid and rng.random() < 0.3) else ""
            yr = year + (1 if rng.random() < 0.1 else 0)
            add(
                Record(
                    record_id=f"medline:{copy_pmid}" if database == "medline" and copy_pmid else rid(database),
                    run_id="2025-09-30",
                    database=database,
                    pmid=copy_pmid,
                    doi=copy_doi,
                    title=t,
                    authors=au,
                    journal=journal if rng.random() < 0.7 else abbrev,
                    year=str(yr),
                    volume=volume if rng.random() < 0.95 else "",
                    pages=pg,
                    publication_types=("Journal Article",),
                ),
                label,
            )
        # Hard negatives (separate reports, own labels).
        if work % 200 == 0:
            label += 1
            add(Record(record_id=rid("embase"), run_id="2025-09-30", database="embase", title="Erratum: " + title, authors=authors, journal=journal,
                       year=str(year), volume=volume, publication_types=("Erratum",)), label)
        if work % 100 == 0:
            label += 1
            add(Record(record_id=rid("other"), run_id="2025-09-30", database="other", doi=f"10.1101/synth.{seed}.{work}", title=title, authors=authors,
                       journal="medRxiv", year=str(year - 1), publication_types=("Preprint",)), label)
        if work % 150 == 0:
            label += 1
            add(Record(record_id=rid("embase"), run_id="2025-09-30", database="embase", title=title, authors=authors[:2], journal=journal,
                       year=str(year - 1), volume=volume, pages=f"A{start}", publication_types=("Conference Abstract",)), label)
        if work % 100 == 50:
            label += 1
            add(Record(record_id=rid("embase"), run_id="2025-09-30", database="embase", title=title + " part 2", authors=authors, journal=journal,
                       year=str(year), volume=volume, pages=f"{end + 1}-{end + 9}", publication_types=("Journal Article",)), label)
    return records, labels


def pair_counts(pred: list[str], truth: list[int]) -> tuple[int, int, int]:
    """(true positive pairs, predicted pairs, true pairs)."""
    def c2(n: int) -> int:
        return n * (n - 1) // 2

    tp = sum(c2(n) for n in Counter(zip(pred, truth)).values())
    return tp, sum(c2(n) for n in Counter(pred).values()), sum(c2(n) for n in Counter(truth).values())


def run_one(size: int, *, workers: int, seed: int) -> dict[str, float]:
    """Generate, deduplicate and score one size (in this process)."""
    t0 = time.perf_counter()
    records, labels = generate(size, seed)
    t1 = time.perf_counter()
    result = deduplicate(records, workers=workers)
    t2 = time.perf_counter()
    pred = [result.cluster_of[r.record_id] for r in records]
    tp, predicted, true = pair_counts(pred, labels)
    return {
        "records": len(records),
        "true_clusters": len(set(labels)),
        "found_clusters": result.n_clusters,
        "generate_s": round(t1 - t0, 2),
        "dedup_s": round(t2 - t1, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "precision": round(tp / predicted, 6) if predicted else 1.0,
        "recall": round(tp / true, 6) if true else 1.0,
        "true_pairs": true,
        "false_pairs": predicted - tp,
        "missed_pairs": true - tp,
    }


def main() -> int:
    """Run each size in a subprocess and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, workers=args.workers, seed=args.seed)))
        return 0
    print(f"{'records':>9} {'dedup s':>8} {'gen s':>6} {'peak MB':>8} {'precision':>9} {'recall':>8} {'false':>6} {'missed':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--workers", str(args.workers), "--seed", str(args.seed)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            print(f"{size:>9} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{m['records']:>9} {m['dedup_s']:>8.2f} {m['generate_s']:>6.1f} {m['peak_rss_mb']:>8.1f} "
            f"{m['precision']:>9.6f} {m['recall']:>8.6f} {m['false_pairs']:>6} {m['missed_pairs']:>7}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
