"""Live PubMed search against the fake E-utilities server: paging, faults, count checks, --since, secrets."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import logging
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from email.message import Message
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import Bio
import pytest
import yaml
from Bio import Entrez
from fake_eutils import (
    FakeEutils,
    FakeRecord,
    efetch_xml,
    make_records,
    route_entrez,
    synthetic_record,
)
from livingreview import cli
from livingreview.errors import ArchiveError, ConfigError, SearchError
from livingreview.importer import collect_records
from livingreview.runs import (
    Manifest,
    RunFile,
    list_runs,
    load_manifest,
    verify_run,
    write_run,
)
from livingreview.search import (
    INCEPTION_MINDATE,
    EntrezSettings,
    _Progress,
    _retry_after,
    archived_pubmed_ids,
    last_search_date,
    pubmed_strategy,
    run_pubmed_search,
    search_pubmed,
    usable_email,
)
from livingreview.writers import gzip_bytes, ovid_ris
from lxml import etree

from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 1, 15)
SECRET = "TESTKEY-0123456789abcdef-not-real"
# A contact address for the fake server only (.test is a reserved domain: no mail is ever sent).
CONTACT = "reviewer@university.test"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without NCBI credentials in the environment."""
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)


@pytest.fixture
def fake() -> Iterator[Callable[[list[FakeRecord]], FakeEutils]]:
    """Start fake servers routed from Bio.Entrez; every one is stopped at teardown."""
    started: list[tuple[FakeEutils, Any]] = []

    def start(records: list[FakeRecord], **kwargs: Any) -> FakeEutils:
        server = FakeEutils(records, **kwargs).start()
        route = route_entrez(server.base_url)
        route.__enter__()
        started.append((server, route))
        return server

    yield start
    for server, route in reversed(started):
        route.__exit__(None, None, None)
        server.stop()


def write_config(tmp_path: Path, **entrez: Any) -> Path:
    """The project config with test-friendly entrez settings (small batches, short backoff, a contact address)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["entrez"].update({"email": CONTACT, "batch_size": 100, "max_retries": 3, "timeout_seconds": 5, "backoff_seconds": 0.01})
    config["entrez"].update(entrez)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class Sleeps(list):
    """Records the backoff delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def read_pmids(run_dir: Path) -> list[str]:
    """PMIDs in a run's pubmed.xml.gz, in file order (parsed with a strict XML parser)."""
    data = gzip.decompress((run_dir / "pubmed.xml.gz").read_bytes())
    root = etree.fromstring(data, parser=etree.XMLParser(load_dtd=False, no_network=True))
    assert root.tag == "PubmedArticleSet"
    return [a.findtext("MedlineCitation/PMID") for a in root.findall("PubmedArticle")]


def assert_nothing_written(root: Path) -> None:
    """No run folder and no half-written .partial folder under root."""
    assert not root.exists() or sorted(p.name for p in root.iterdir()) == []


def test_search_several_batches_writes_an_exact_run(tmp_path: Path, fake: Any) -> None:
    records = make_records(300, start=dt.date(2001, 1, 1), step_days=10)
    server = fake(records)
    config = write_config(tmp_path)
    root = tmp_path / "searches"

    run_dir = run_pubmed_search(config_path=config, root=root, today=TODAY).path

    assert run_dir == root / "2026-01-15"
    pmids = read_pmids(run_dir)
    assert sorted(pmids) == sorted(r.pmid for r in records) and len(pmids) == 300
    manifest = verify_run(run_dir)
    (entry,) = manifest.files
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert entry.database == "pubmed" and entry.format == "pubmed_xml" and entry.name == "pubmed.xml.gz"
    assert entry.platform == "PubMed (NCBI E-utilities)"
    assert entry.query == pubmed_strategy(cfg) and "ketamine[tiab]" in entry.query
    assert entry.query_translation == entry.query + " AND fake[translation]"
    assert entry.date_limits == {"from": "inception", "to": "2025/09/30", "datetype": "edat"}
    assert entry.count_reported == 300 and entry.count_in_file == 300
    assert manifest.date_run == "2026-01-15" and manifest.run_id == "2026-01-15"
    assert manifest.tool_versions["biopython"] == Bio.__version__
    # gzip header carries no timestamp
    assert (run_dir / "pubmed.xml.gz").read_bytes()[4:8] == b"\x00\x00\x00\x00"
    # esearch on the history server with the config's date limits; paging by retstart/retmax
    first = server.calls("esearch")[0].params
    assert first["usehistory"] == "y" and first["db"] == "pubmed"
    assert (first["mindate"], first["maxdate"], first["datetype"]) == (INCEPTION_MINDATE, "2025/09/30", "edat")
    assert first["email"] == CONTACT and first["tool"] == "livingreview" and "api_key" not in first
    fetches = server.calls("efetch")
    assert [(r.params["retstart"], r.params["retmax"]) for r in fetches] == [("0", "100"), ("100", "100"), ("200", "100")]
    assert {(r.params["webenv"], r.params["query_key"], r.params["retmode"]) for r in fetches} == {("MCID_FAKE_1", "1", "xml")}
    # the final count check asked for the full id list
    assert server.calls("esearch")[1].params["retmax"] == "300"
    # without an API key: at most 3 requests in any second
    assert len(server.requests) == 5 and server.max_per_second() <= 3
    # Bio.Entrez's globals are restored
    assert Entrez.api_key is None and Entrez.max_tries == 3


def _history_sets(server: FakeEutils) -> dict[str, int]:
    """Each history set the client fetched from (WebEnv) and the count esearch reported for it."""
    counts = {}
    searches = server.calls("esearch")
    for i, r in enumerate(searches):
        if r.params.get("usehistory") == "y":
            counts[f"MCID_FAKE_{i + 1}"] = r
    fetched = {r.params["webenv"] for r in server.calls("efetch")}
    return {webenv: counts[webenv] for webenv in fetched}


def test_search_of_25000_records_is_split_into_date_ranges_pubmed_can_return(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """PubMed's E-utilities give at most the first 9,999 records of one search (esearch and the history
    server alike): a larger result set is searched in date ranges of at most 9,999 records each, and
    the union is checked against the count of the whole range."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    records = make_records(25_000, start=dt.date(1950, 1, 1))
    server = fake(records)
    config = write_config(tmp_path, batch_size=5000)

    run_dir = run_pubmed_search(config_path=config, root=tmp_path / "searches", today=TODAY).path

    pmids = read_pmids(run_dir)
    assert len(pmids) == 25_000 and set(pmids) == {r.pmid for r in records}
    assert pmids == sorted(pmids, key=int, reverse=True)  # newest first, as one PubMed search sorts
    fetches = server.calls("efetch")
    assert all(int(r.params["retstart"]) + int(r.params["retmax"]) <= 9_999 for r in fetches)
    assert all(r.fault == "" for r in server.requests)
    # every history set fetched from held at most 9,999 records, and the ranges do not overlap
    searches = server.calls("esearch")
    sets = _history_sets(server)
    assert len(sets) >= 3
    counts = []
    for webenv, request in sets.items():
        n = sum(1 for r in records if request.params["mindate"] <= r.date.strftime("%Y/%m/%d") <= request.params["maxdate"])
        assert 0 < n <= 9_999
        counts.append(n)
    assert sum(counts) == 25_000
    # the whole range was searched first and checked last (count only: PubMed lists no more than 9,999 ids)
    assert (searches[0].params["mindate"], searches[0].params["maxdate"]) == (INCEPTION_MINDATE, "2025/09/30")
    assert (searches[-1].params["mindate"], searches[-1].params["maxdate"], searches[-1].params["retmax"]) == (INCEPTION_MINDATE, "2025/09/30", "0")
    (entry,) = load_manifest(run_dir).files
    assert entry.count_reported == 25_000 and entry.count_in_file == 25_000
    assert entry.date_limits == {"from": "inception", "to": "2025/09/30", "datetype": "edat"}
    assert f"searched in {len(sets)} date ranges of at most 9,999 records" in entry.notes
    assert server.max_per_second() <= 10


def test_a_search_at_the_cap_exactly_is_one_history_set(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """9,999 records fit one search; the count check lists all 9,999 ids (retmax 9999)."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    records = make_records(9_999, start=dt.date(1960, 1, 1))
    server = fake(records)
    run_dir = run_pubmed_search(config_path=write_config(tmp_path, batch_size=5000), root=tmp_path / "searches", today=TODAY).path
    assert len(read_pmids(run_dir)) == 9_999
    assert [r.params.get("usehistory") for r in server.calls("esearch")] == ["y", None]
    assert server.calls("esearch")[1].params["retmax"] == "9999"
    assert [(r.params["retstart"], r.params["retmax"]) for r in server.calls("efetch")] == [("0", "5000"), ("5000", "4999")]
    assert "date ranges" not in load_manifest(run_dir).files[0].notes


def test_split_ranges_keep_a_record_found_in_two_of_them_once(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """By publication date a record with an electronic and a later print date matches two disjoint
    ranges: it is archived once, and the union still equals the whole range's count."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    monkeypatch.setattr("livingreview.search.MAX_PER_SEARCH", 100)
    records = make_records(250, start=dt.date(2000, 1, 1), step_days=20)
    # an early electronic date: the record matches the range of 2000 and that of its print date
    records[-1] = FakeRecord(records[-1].pmid, records[-1].date, epub=dt.date(2000, 1, 2))
    server = fake(records)
    server.set(retrieval_cap=100)
    config = write_config(tmp_path, datetype="pdat")

    run_dir = run_pubmed_search(config_path=config, root=tmp_path / "searches", today=TODAY).path

    pmids = read_pmids(run_dir)
    assert len(pmids) == 250 and set(pmids) == {r.pmid for r in records}
    (entry,) = load_manifest(run_dir).files
    assert entry.count_reported == 250 and entry.count_in_file == 250
    assert "1 record found in two date ranges is archived once" in entry.notes
    assert all(r.params["datetype"] == "pdat" for r in server.calls("esearch"))


def test_more_records_on_one_day_than_pubmed_returns_stops_with_a_clear_error(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    monkeypatch.setattr("livingreview.search.MAX_PER_SEARCH", 100)
    records = make_records(150, start=dt.date(2020, 5, 4), step_days=0)
    server = fake(records)
    server.set(retrieval_cap=100)
    root = tmp_path / "searches"
    with pytest.raises(SearchError) as err:
        run_pubmed_search(config_path=write_config(tmp_path), root=root, today=TODAY, sleep=Sleeps()).path
    text = str(err.value)
    assert "PubMed reports 150 records for 2020/05/04 alone (edat), more than the 100 E-utilities return for one search" in text
    assert "fix:" in text and "nothing was written" in text
    assert server.calls("efetch") == []
    assert_nothing_written(root)


def test_an_esearch_error_beside_a_count_is_retried_not_taken_for_no_records(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An <ERROR> in an esearch reply means the search failed, even when a <Count>0</Count> stands beside it
    (Bio.Entrez.read raises on any <ERROR>): it is retried, never reported as 'no new records'."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    records = make_records(30, start=dt.date(2010, 1, 1))
    server = fake(records)
    server.inject("esearch", "error_with_count", times=2)
    sleeps = Sleeps()
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY, sleep=sleeps).path
    assert run_dir is not None and sorted(read_pmids(run_dir)) == sorted(r.pmid for r in records)
    assert [r.fault for r in server.calls("esearch")] == ["error_with_count", "error_with_count", "", ""]
    assert sleeps == [0.01, 0.02]


def test_an_esearch_error_that_persists_stops_the_search(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(30, start=dt.date(2010, 1, 1)))
    server.fail_always("esearch", "error_with_count")
    root = tmp_path / "searches"
    with pytest.raises(SearchError) as err:
        run_pubmed_search(config_path=write_config(tmp_path), root=root, today=TODAY, sleep=Sleeps()).path
    text = str(err.value)
    assert "esearch failed after 4 attempt(s); last error: esearch reply has an <ERROR>: Search Backend failed: fake fault beside a count" in text
    assert len(server.calls("esearch")) == 4
    assert_nothing_written(root)


def test_a_reply_that_trickles_in_is_cut_off_at_its_deadline_and_retried(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that sends a byte every 0.05 s never lets a single wait reach entrez.timeout_seconds,
    so only a deadline on the whole reply (10 x timeout_seconds) stops it: the reply is given up,
    retried, and the search ends with every record, the wait logged."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    records = make_records(20, start=dt.date(2010, 1, 1))
    server = fake(records, slow_seconds=0.05)
    server.inject("esearch", "drip", times=1)
    config = write_config(tmp_path, timeout_seconds=0.2)
    started = time.monotonic()
    caplog.set_level(logging.WARNING, logger="livingreview.search")
    run_dir = run_pubmed_search(config_path=config, root=tmp_path / "searches", today=TODAY, sleep=Sleeps()).path
    assert time.monotonic() - started < 20
    assert sorted(read_pmids(run_dir)) == sorted(r.pmid for r in records)
    assert [r.fault for r in server.calls("esearch")][:2] == ["drip", ""]
    assert "reply not complete within 2 s (10 x entrez.timeout_seconds;" in caplog.text


def test_read_reply_stops_at_the_deadline_and_at_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import livingreview.search as search

    class Trickle:
        """One byte per read1, as a server that sends a byte at a time."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def read1(self, n: int) -> bytes:
            part, self.data = self.data[:1], self.data[1:]
            return part

    ticks = iter(range(100))  # the clock moves 1 s per reading
    with pytest.raises(TimeoutError, match=r"reply not complete within 2.5 s .*; 3 bytes so far\)"):
        search._read_reply(Trickle(b"abcdef"), limit_seconds=2.5, clock=lambda: float(next(ticks)))
    assert search._read_reply(Trickle(b"abc"), limit_seconds=10.0, clock=lambda: 0.0) == b"abc"
    assert search._read_reply(io.BytesIO(b"<x/>"), limit_seconds=1.0) == b"<x/>"
    monkeypatch.setattr(search, "MAX_REPLY_BYTES", 4)
    with pytest.raises(search._RetryableResponse, match="reply larger than 0 MiB"):
        search._read_reply(io.BytesIO(b"<x>1</x>"), limit_seconds=1.0)


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "truncate", "error_body", "html", "reset", "slow", "stall"])
@pytest.mark.parametrize("endpoint", ["esearch", "efetch"])
def test_transient_faults_are_retried(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, fault: str, endpoint: str) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    records = make_records(150, start=dt.date(2010, 1, 1))
    server = fake(records, slow_seconds=1.5, retry_after="2")
    server.inject(endpoint, fault, times=2)
    config = write_config(tmp_path, timeout_seconds=0.4)
    sleeps = Sleeps()

    run_dir = run_pubmed_search(config_path=config, root=tmp_path / "searches", today=TODAY, sleep=sleeps).path

    assert sorted(read_pmids(run_dir)) == sorted(r.pmid for r in records)
    normal = {"esearch": 2, "efetch": 2}
    assert len(server.calls(endpoint)) == normal[endpoint] + 2
    assert [r.fault for r in server.calls(endpoint)][:2] == [fault, fault]
    # exponential backoff from entrez.backoff_seconds; a 429's Retry-After is honoured
    if fault == "429":
        assert sleeps == [2.0, 2.0]
    else:
        assert sleeps == [0.01, 0.02]


def test_a_long_retry_after_in_seconds_is_honoured_in_full(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 s is more than the exponential backoff's 120 s cap, but NCBI asked for it: wait 300 s (the test's sleep only records it)."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(20, start=dt.date(2010, 1, 1)), retry_after="300")
    server.inject("efetch", "429")
    sleeps = Sleeps()
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY, sleep=sleeps).path
    assert run_dir is not None and len(read_pmids(run_dir)) == 20
    assert sleeps == [300.0]


def test_a_retry_after_given_as_an_http_date_is_honoured(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(20, start=dt.date(2010, 1, 1)), retry_after=formatdate(time.time() + 90, usegmt=True))
    server.inject("esearch", "429")
    sleeps = Sleeps()
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY, sleep=sleeps).path
    assert run_dir is not None
    (waited,) = sleeps
    assert 85 < waited <= 90  # the header has whole seconds; the request took a moment


@pytest.mark.parametrize("retry_after", ["900", "HTTP-DATE+3600"])
def test_a_retry_after_beyond_the_maximum_stops_at_once(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], retry_after: str
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    if retry_after.startswith("HTTP-DATE"):
        retry_after = formatdate(time.time() + 3600, usegmt=True)
    server = fake(make_records(20, start=dt.date(2010, 1, 1)), retry_after=retry_after)
    server.inject("esearch", "429")
    root = tmp_path / "searches"
    sleeps = Sleeps()
    with pytest.raises(SearchError) as err:
        run_pubmed_search(config_path=write_config(tmp_path), root=root, today=TODAY, sleep=sleeps).path
    text = str(err.value)
    assert text.startswith("NCBI E-utilities: esearch: NCBI answered HTTP 429 (Too Many Requests) and asked to wait ")
    assert " s (Retry-After) before the next request, longer than the 600 s a search waits; fix: re-run the search later" in text
    waited = int(text.split("asked to wait ")[1].split(" s")[0])
    assert waited == 900 if retry_after == "900" else 3590 < waited <= 3600
    assert sleeps == [] and len(server.requests) == 1
    assert_nothing_written(root)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Thu, 15 Jan 2026 12:01:30 GMT", 90.0),
        ("Thu, 15 Jan 2026 12:00:00 GMT", 0.0),
        ("Wed, 14 Jan 2026 12:00:00 GMT", 0.0),  # in the past: no extra wait
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_values(value: str, seconds: float | None) -> None:
    now = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC).timestamp()
    err = HTTPError("https://eutils.ncbi.nlm.nih.gov/", 429, "Too Many Requests", Message() if not value else _headers(value), None)
    assert _retry_after(err, now) == seconds


def _headers(value: str) -> Message:
    message = Message()
    message["Retry-After"] = value
    return message


@pytest.mark.parametrize(
    ("fault", "message"),
    [("503", "last error: HTTP 503"), ("slow", "last error: no reply within 0.3 s"), ("truncate", "truncated or unparsable efetch XML")],
)
def test_a_server_that_never_recovers_stops_with_a_clear_error(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, fault: str, message: str
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(50), slow_seconds=1.0)
    server.fail_always("efetch", fault)
    config = write_config(tmp_path, max_retries=2, timeout_seconds=0.3)
    root = tmp_path / "searches"

    with pytest.raises(SearchError) as err:
        run_pubmed_search(config_path=config, root=root, today=TODAY, sleep=Sleeps()).path

    text = str(err.value)
    assert "efetch records 1-50 of 50 failed after 3 attempt(s)" in text and message in text
    assert "fix:" in text
    assert len(server.calls("efetch")) == 3
    assert_nothing_written(root)


@pytest.mark.parametrize(
    ("endpoint", "fault", "message"),
    [
        ("efetch", "entity", "efetch records 1-50 of 50 failed after 3 attempt(s); last error: efetch record PMID 990000050 holds the entity reference &fake;"),
        ("esearch", "bad_count", "esearch failed after 3 attempt(s); last error: esearch reply's <Count> is not a whole number: '1e350'"),
    ],
)
def test_a_reply_the_archive_could_not_hold_is_retried_and_never_archived(
    tmp_path: Path, fake: Any, endpoint: str, fault: str, message: str
) -> None:
    """An unexpanded entity reference in efetch XML was archived as is (the import then refused the
    file, or dropped the text silently); a <Count> that is not a number stopped with a traceback."""
    server = fake(make_records(50))
    server.inject(endpoint, fault, times=1)
    config = write_config(tmp_path, max_retries=2)
    run_pubmed_search(config_path=config, root=tmp_path / "ok", today=TODAY, sleep=Sleeps())
    assert [r.fault for r in server.calls(endpoint)][:2] == [fault, ""]
    records = collect_records(tmp_path / "ok")[0]
    assert len(records) == 50 and all(r.title.startswith("Synthetic test record") for r in records)

    server.fail_always(endpoint, fault)
    root = tmp_path / "searches"
    with pytest.raises(SearchError) as err:
        run_pubmed_search(config_path=config, root=root, today=TODAY, sleep=Sleeps())
    assert message in str(err.value) and "fix:" in str(err.value)
    assert_nothing_written(root)


def test_a_client_error_is_not_retried(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(10), max_requests=0)  # every request answered 400
    with pytest.raises(SearchError, match="HTTP 400"):
        run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY, sleep=Sleeps()).path
    assert len(server.requests) == 1


def test_a_wrong_api_key_is_named_and_never_shown(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """NCBI answers a wrong api_key with HTTP 400 (as it does a bad request) and a JSON body that echoes
    the key: the one-line error says what NCBI said and points at NCBI_API_KEY, without the key."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(10))
    server.set(valid_api_key="another-key")
    root = tmp_path / "searches"
    caplog.set_level(logging.DEBUG)
    code = cli.main(["search", "pubmed", "--config", str(write_config(tmp_path)), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 1 and len(server.requests) == 1
    assert "esearch: NCBI answered HTTP 400 (Bad Request): API key invalid" in err
    assert "NCBI_API_KEY" in err.split("fix:")[1]
    assert SECRET not in err and SECRET not in caplog.text
    assert_nothing_written(root)


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        # 3 records arrive after every esearch (first and count check): attempts see 120/123, 126/129, 132/135
        ({"grow_after_first_search": 3, "grow_searches": 100}, "PubMed's count changed during the search (132 at the start, 135 at the end): records were added or removed while fetching, 3 times in a row"),
        ({"duplicate_in_efetch": True}, "efetch returned duplicate PMIDs"),
        ({"overreport": 1}, "efetch records 101-121 of 121 failed after 4 attempt(s); last error: efetch batch holds 20 records, 21 expected"),
    ],
)
def test_count_mismatch_writes_nothing(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, switch: dict[str, Any], message: str) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(120, start=dt.date(2015, 1, 1)))
    server.set(**switch)
    root = tmp_path / "searches"
    with pytest.raises(SearchError) as err:
        run_pubmed_search(config_path=write_config(tmp_path), root=root, today=TODAY, sleep=Sleeps()).path
    assert message in str(err.value)
    assert "nothing was written" in str(err.value) or "failed after" in str(err.value)
    assert_nothing_written(root)


def test_a_phrase_pubmed_did_not_find_is_logged_and_kept_in_the_manifest(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """esearch's ErrorList (PhraseNotFound: PubMed searched without that phrase) is no failure, but the
    search run is not the strategy as written: it is logged as a warning and kept in the manifest's notes."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(12, start=dt.date(2011, 1, 1)))
    server.set(error_list="war neurosis[tiab]")
    caplog.set_level(logging.WARNING, logger="livingreview")
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY).path
    assert run_dir is not None and len(read_pmids(run_dir)) == 12
    assert "esearch: ErrorList PhraseNotFound: war neurosis[tiab]" in caplog.text
    assert load_manifest(run_dir).files[0].notes.endswith("; esearch ErrorList PhraseNotFound: war neurosis[tiab]")


def _archive(root: Path, run_id: str, database: str, date_to: str | None, records: list[FakeRecord] = ()) -> None:
    """An archived run holding one file of ``database`` with the given synthetic records (date_to None: no end date)."""
    if database == "pubmed":
        name, fmt, data = "pubmed.xml.gz", "pubmed_xml", gzip_bytes(efetch_xml(list(records)))
    else:
        name, fmt = f"{database}.ris", "ris"
        data = ovid_ris([synthetic_record(r) for r in records], database=database).encode("utf-8")
    entry = RunFile(
        name=name,
        database=database,
        platform="test",
        format=fmt,
        query="q",
        date_limits={"from": "inception"} | ({} if date_to is None else {"to": date_to}),
        count_reported=len(records),
        count_in_file=len(records),
    )
    write_run(root, Manifest(run_id=run_id, date_run=run_id[:10], files=[entry]), {name: data})


def test_since_last_starts_at_the_end_of_the_newest_pubmed_run(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    _archive(root, "2025-06-30", "pubmed", "2025/06/30")
    _archive(root, "2025-09-30", "pubmed", "2025/09/30")
    _archive(root, "2025-10-31", "embase", "2025/10/31")  # newer, but no PubMed file
    records = make_records(200, start=dt.date(2025, 8, 1))  # 2025-08-01 .. 2026-02-16
    server = fake(records)

    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", today=TODAY).path

    first = server.calls("esearch")[0].params
    assert (first["mindate"], first["maxdate"]) == ("2025/09/30", "2026/01/15")
    expected = {r.pmid for r in records if dt.date(2025, 9, 30) <= r.date <= TODAY}
    assert set(read_pmids(run_dir)) == expected and len(expected) == 108
    assert load_manifest(run_dir).files[0].date_limits == {"from": "2025/09/30", "to": "2026/01/15", "datetype": "edat"}
    # --until overrides the end; what the first update archived is not archived again
    again = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="2025/12/01", until="2025/12/31", today=TODAY).path
    assert again is None
    assert (server.calls("esearch")[2].params["mindate"], server.calls("esearch")[2].params["maxdate"]) == ("2025/12/01", "2025/12/31")
    assert server.calls("efetch")[-1].params["retmax"] == "31"


@pytest.mark.parametrize("configured", ["pdat", "edat"])
def test_since_last_finds_a_record_indexed_after_the_last_run(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, configured: str) -> None:
    """A record published 2025/09/20 that entered PubMed after the 2025/09/30 run: the update searches by
    Entrez date (edat), whatever datetype the config gives for the full search."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    _archive(root, "2025-09-30", "pubmed", "2025/09/30")
    late, normal, old = make_records(3, start=dt.date(2025, 9, 20), step_days=0)
    served = [
        FakeRecord(late.pmid, dt.date(2025, 9, 20), entered=dt.date(2025, 10, 10)),  # published before the run, indexed after it
        FakeRecord(normal.pmid, dt.date(2025, 10, 5)),  # published and indexed after the run
        FakeRecord(old.pmid, dt.date(2025, 9, 1), entered=dt.date(2025, 9, 3)),  # found by the 2025-09-30 run
    ]
    server = fake(served)
    config = write_config(tmp_path, datetype=configured)

    run_dir = run_pubmed_search(config_path=config, root=root, since="last", today=TODAY).path

    first = server.calls("esearch")[0].params
    assert (first["mindate"], first["maxdate"], first["datetype"]) == ("2025/09/30", "2026/01/15", "edat")
    assert {r.params["datetype"] for r in server.calls("esearch")} == {"edat"}
    assert sorted(read_pmids(run_dir)) == sorted([late.pmid, normal.pmid])
    manifest = load_manifest(run_dir)
    (entry,) = manifest.files
    assert entry.date_limits == {"from": "2025/09/30", "to": "2026/01/15", "datetype": "edat"}
    assert "datetype=edat" in entry.notes
    assert "by Entrez date (edat: the date a record entered PubMed)" in manifest.description
    # a search without --since keeps the configured date type (the configured date_from..date_to)
    full = run_pubmed_search(config_path=config, root=tmp_path / "full", today=TODAY).path
    assert server.calls("esearch")[-1].params["datetype"] == configured
    assert load_manifest(full).files[0].date_limits["datetype"] == configured
    # by publication date the late record falls in the configured range (<= 2025/09/30), by Entrez date it does not
    assert sorted(read_pmids(full)) == sorted([late.pmid, old.pmid] if configured == "pdat" else [old.pmid])


def test_the_shipped_config_searches_by_entrez_date() -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    assert config["entrez"]["datetype"] == "edat"
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    assert schema["properties"]["entrez"]["properties"]["datetype"]["default"] == "edat"
    assert EntrezSettings().datetype == "edat"


def test_since_last_without_a_pubmed_run_is_an_error(tmp_path: Path, fake: Any) -> None:
    root = tmp_path / "searches"
    _archive(root, "2025-10-31", "embase", "2025/10/31")
    server = fake(make_records(5))
    with pytest.raises(SearchError, match="--since last needs an archived PubMed run"):
        run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", today=TODAY).path
    assert server.requests == []


def test_since_last_skips_runs_without_a_usable_end_date_and_says_which(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An add-run without --date-to (or an old manifest with a bad one) does not block later updates."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    _archive(root, "2025-09-30", "pubmed", "2025/09/30")
    _archive(root, "2025-10-15", "pubmed", None)  # add-run without --date-to
    _archive(root, "2025-10-20", "pubmed", "")  # an archived manifest with an empty end date (never edited)
    _archive(root, "2025-10-25", "pubmed", "31/10/2025")
    _archive(root, "2025-10-31", "embase", "2025/10/31")  # newer, but no PubMed file
    server = fake(make_records(10, start=dt.date(2025, 10, 1), step_days=7))
    caplog.set_level(logging.WARNING, logger="livingreview")

    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", today=TODAY).path

    assert run_dir is not None
    assert server.calls("esearch")[0].params["mindate"] == "2025/09/30"
    skipped = [r.getMessage() for r in caplog.records if "--since last" in r.getMessage()]
    assert skipped == [
        "--since last: skipped run 2025-10-25 (pubmed.xml.gz): its date_limits.to '31/10/2025' is not a date; the search starts at the end date of run 2025-09-30 (2025/09/30)",
        "--since last: skipped run 2025-10-20 (pubmed.xml.gz): its date_limits.to '' is not a date; the search starts at the end date of run 2025-09-30 (2025/09/30)",
        "--since last: skipped run 2025-10-15 (pubmed.xml.gz): it has no date_limits.to; the search starts at the end date of run 2025-09-30 (2025/09/30)",
    ]


def test_since_last_with_no_usable_end_date_says_how_to_go_on(tmp_path: Path, fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "searches"
    _archive(root, "2025-10-15", "pubmed", None)
    _archive(root, "2025-10-20", "pubmed", "")
    server = fake(make_records(5))
    code = cli.main(["search", "pubmed", "--since", "last", "--config", str(write_config(tmp_path)), "--root", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == (
        f"livingreview: error: {root}: --since last found no archived PubMed run with an end date "
        "(date_limits.to): 2025-10-20 has '', 2025-10-15 has none; "
        "fix: give the start date yourself, e.g. --since YYYY/MM/DD with the end date of the last PubMed search "
        "(archived manifests are never edited)"
    )
    assert server.requests == []
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-15", "2025-10-20"]


@pytest.mark.parametrize(
    ("date_to", "since"),
    [("2025/10/31", "2025/10/31"), ("2025-10-31", "2025/10/31"), ("2025/10", "2025/10/01"), ("2025", "2025/01/01")],
)
def test_since_last_reads_every_end_date_form_add_run_accepts(tmp_path: Path, date_to: str, since: str) -> None:
    """A month or a year as end date: the update starts on its first day (nothing in it is missed;
    records archived already are left out)."""
    root = tmp_path / "searches"
    _archive(root, "2025-10-31", "pubmed", date_to)
    assert last_search_date(root) == since


def test_no_records_writes_nothing_and_says_so(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    fake(make_records(20, start=dt.date(1990, 1, 1)))
    root = tmp_path / "searches"
    code = cli.main(["search", "pubmed", "--since", "2020/01/01", "--config", str(write_config(tmp_path)), "--root", str(root)])
    assert code == 0
    assert "no new records" in capsys.readouterr().out
    assert_nothing_written(root)


def test_the_api_key_is_sent_but_never_written_or_logged(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    monkeypatch.setenv("NCBI_EMAIL", "tester@lab.test")
    server = fake(make_records(250, start=dt.date(2012, 1, 1)))
    server.inject("efetch", "500")
    server.inject("esearch", "429")
    server.set(retry_after="0")
    root = tmp_path / "searches"
    caplog.set_level(logging.DEBUG)
    log_file = tmp_path / "search.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    logging.getLogger("livingreview").addHandler(handler)
    try:
        code = cli.main(["-v", "search", "pubmed", "--config", str(write_config(tmp_path)), "--root", str(root), "--run-id", "2026-01-14"])
    finally:
        logging.getLogger("livingreview").removeHandler(handler)
        handler.close()

    assert code == 0
    # NCBI got the key and the e-mail from the environment, and 10 requests/s were allowed
    assert {r.params.get("api_key") for r in server.requests} == {SECRET}
    assert {r.params.get("email") for r in server.requests} == {"tester@lab.test"}
    assert server.max_per_second() <= 10
    run_dir = root / "2026-01-14"
    captured = capsys.readouterr()
    assert "archived PubMed run" in captured.out
    texts = [captured.out, captured.err, caplog.text, log_file.read_text(encoding="utf-8")]
    for path in run_dir.rglob("*"):
        data = path.read_bytes()
        texts.append((gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8"))
    assert len(texts) == 6
    for text in texts:
        assert SECRET not in text
        assert "api_key=" not in text
    # the manifest says only that a key was used, and keeps no e-mail address
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert "tester@lab.test" not in json.dumps(manifest)
    assert "rate limit 10 requests/s" in manifest["files"][0]["notes"]
    assert Entrez.api_key is None


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = _Progress(200, tty)
    bar.update(100)
    bar.update(200)
    assert tty.getvalue() == (
        "\rPubMed: [###############...............] 100/200 records"
        "\rPubMed: [##############################] 200/200 records\n"
    )
    plain = io.StringIO()
    caplog.set_level(logging.INFO, logger="livingreview")
    _Progress(200, plain).update(100)
    assert plain.getvalue() == "" and "fetched 100 of 200 records" in caplog.text


def test_route_entrez_refuses_any_other_host(fake: Any) -> None:
    fake(make_records(1))
    from Bio.Entrez import _build_request, urlopen

    with pytest.raises(RuntimeError, match="tried to reach the network"):
        urlopen(_build_request("https://example.org/other.fcgi", {"email": "x@example.org"}))


@pytest.mark.parametrize(
    ("date_to", "run_id", "message"),
    [
        ("2025/09/30", "2025-12-01", "already exists"),  # the run id is taken
        ("2025/12/01", "2025-11-15", "run 2025-11-15 would come before run 2025-12-01, archived already"),  # before the newest run
    ],
)
def test_a_run_id_that_cannot_be_archived_is_refused_before_searching(tmp_path: Path, fake: Any, date_to: str, run_id: str, message: str) -> None:
    root = tmp_path / "searches"
    _archive(root, "2025-12-01", "pubmed", date_to)
    server = fake(make_records(5))
    with pytest.raises(ArchiveError, match=message):
        run_pubmed_search(config_path=write_config(tmp_path), root=root, run_id=run_id, today=TODAY).path
    assert server.requests == []
    assert [p.name for p in list_runs(root)] == ["2025-12-01"]


@pytest.mark.parametrize("run_id", ["2026/01/15", "keytest", "2026-13-01", "2026-02-30", "2026-01-15-1", "2026-01-15-02", "2026-1-15", "../2026-01-15", ""])
def test_a_bad_run_id_is_refused_before_any_request(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(5, start=dt.date(2020, 1, 1)))
    root = tmp_path / "searches"
    code = cli.main(["search", "pubmed", "--config", str(write_config(tmp_path)), "--root", str(root), "--run-id", run_id])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [
        (
            f"livingreview: error: --run-id: {run_id!r} is not a run id (YYYY-MM-DD, or YYYY-MM-DD-N with N >= 2 for a later run the same day); "
            "fix: give e.g. 2026-01-15 or 2026-01-15-2, or leave --run-id out (today's date)"
        )
    ]
    assert server.requests == []
    assert_nothing_written(root)


def test_a_later_run_of_the_same_day_may_be_named(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    fake(make_records(5, start=dt.date(2020, 1, 1)))
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", run_id="2026-01-15-2", today=TODAY).path
    assert run_dir == tmp_path / "searches" / "2026-01-15-2" and load_manifest(run_dir).run_id == "2026-01-15-2"


def test_run_id_is_today_with_a_suffix_when_taken(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    _archive(root, "2026-01-15", "embase", "2026/01/15")
    _archive(root, "2026-01-15-2", "embase", "2026/01/15")
    fake(make_records(5, start=dt.date(2020, 1, 1)))
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, today=TODAY).path
    assert run_dir is not None and run_dir.name == "2026-01-15-3"
    assert load_manifest(run_dir).run_id == "2026-01-15-3"


def test_records_archived_by_an_earlier_run_are_left_out_and_explained(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    records = make_records(60, start=dt.date(2025, 9, 1))  # 2025-09-01 .. 2025-10-30
    _archive(root, "2025-09-30", "pubmed", "2025/09/30", records[:30])  # up to the boundary day
    server = fake(records)

    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", today=TODAY).path

    # the boundary day 2025-09-30 is searched again: its record is found but not archived twice
    assert server.calls("esearch")[0].params["mindate"] == "2025/09/30"
    entry = load_manifest(run_dir).files[0]
    assert entry.count_reported == 31 and entry.count_in_file == 30
    assert "1 of 31 records found are already archived and left out of this file: 2025-09-30 (1)" in entry.notes
    # which record, and which run holds it, so `trace` can show the search found it again
    assert entry.found_again == {f"pubmed:{records[29].pmid}": "2025-09-30"}
    assert set(read_pmids(run_dir)) == {r.pmid for r in records[30:]}
    # the importer reads both runs: every record once
    imported, counts = collect_records(root)
    assert sorted(r.pmid for r in imported) == sorted(r.pmid for r in records)
    assert [(c.run_id, c.count_in_file, c.count_reported, c.parsed) for c in counts] == [("2025-09-30", 30, 30, 30), ("2026-01-15", 30, 31, 30)]


def test_records_another_run_archived_while_the_search_ran_stop_it_and_nothing_is_written(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The archive is scanned before searching (minutes); an add-run of a PubMed export archived
    # meanwhile is seen under the runs lock, so no record is archived by two runs.
    import livingreview.search as search_module

    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    records = make_records(60, start=dt.date(2025, 9, 1))
    _archive(root, "2025-09-30", "pubmed", "2025/09/30", records[:30])
    fake(records)
    real_search = search_module.search_pubmed

    def search_while_another_run_is_archived(*args: Any, **kwargs: Any) -> Any:
        result = real_search(*args, **kwargs)
        _archive(root, "2026-01-14", "pubmed", "2026/01/14", records[40:42])
        return result

    monkeypatch.setattr(search_module, "search_pubmed", search_while_another_run_is_archived)
    with pytest.raises(ArchiveError) as err:
        run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", today=TODAY).path
    assert str(err.value) == (
        f"{root / '2026-01-14'}: 2 record(s) of this search (first pubmed:{min(r.pmid for r in records[40:42])}) were archived by run 2026-01-14 "
        "while this one was being made; fix: nothing was written; run the command again: it leaves out what is archived now"
    )
    assert sorted(p.name for p in root.iterdir()) == ["2025-09-30", "2026-01-14"]
    # searched again over the same dates, the two are left out and every record is imported once
    monkeypatch.setattr(search_module, "search_pubmed", real_search)
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="2025/09/30", today=TODAY).path
    assert set(read_pmids(run_dir)) == {r.pmid for r in records[30:40] + records[42:]}
    imported, _ = collect_records(root)
    assert sorted(r.pmid for r in imported) == sorted(r.pmid for r in records)


def test_nothing_new_writes_nothing(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    records = make_records(40, start=dt.date(2025, 9, 1))
    _archive(root, "2025-10-31", "pubmed", "2025/10/31", records)
    server = fake(records)
    assert run_pubmed_search(config_path=write_config(tmp_path), root=root, since="2025/09/15", today=TODAY).path is None
    assert len(server.calls("efetch")) == 1
    assert [p.name for p in root.iterdir()] == ["2025-10-31"]


def test_since_last_on_the_archived_snapshot(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    root = tmp_path / "searches"
    shutil.copytree(shipped_resources() / "searches", root)
    before = sorted(p.name for p in root.iterdir())
    snapshot_pmids = archived_pubmed_ids(root)
    assert snapshot_pmids and set(snapshot_pmids.values()) == {"2025-09-30"}
    records = make_records(12, start=dt.date(2025, 10, 1), step_days=7)
    server = fake(records)

    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", today=TODAY).path

    assert server.calls("esearch")[0].params["mindate"] == "2025/09/30"
    assert sorted(p.name for p in root.iterdir()) == sorted(before + ["2026-01-15"])
    assert set(read_pmids(run_dir)) == {r.pmid for r in records}
    imported, _ = collect_records(root)
    assert {r.pmid for r in imported} >= set(snapshot_pmids) | {r.pmid for r in records}


def test_cli_reports_a_failed_search_in_one_line_and_exits_1(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(10))
    server.fail_always("esearch", "502")
    root = tmp_path / "searches"
    code = cli.main(["search", "pubmed", "--config", str(write_config(tmp_path, max_retries=1)), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("livingreview: error: NCBI E-utilities: esearch failed after 2 attempt(s); last error: HTTP 502")
    assert SECRET not in err
    assert len(server.calls("esearch")) == 2
    assert_nothing_written(root)


def test_cli_without_a_network_says_ncbi_cannot_be_reached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A machine without network (no DNS, connection refused): every request fails before NCBI answers.
    # The one line must say so and point at the connection, not suggest an API key or more retries.
    with socket.socket() as sock:  # a port nothing listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = tmp_path / "searches"
    with route_entrez(f"http://127.0.0.1:{port}/"):
        code = cli.main(["search", "pubmed", "--config", str(write_config(tmp_path, max_retries=1)), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 1
    (last,) = [line for line in err.strip().splitlines() if line.startswith("livingreview: error:")]
    assert last == err.strip().splitlines()[-1]
    assert last.startswith("livingreview: error: NCBI E-utilities: esearch failed after 2 attempt(s); last error: network error (")
    fix = last.split("; fix: ", 1)[1]
    assert fix.startswith("this machine could not connect to NCBI (eutils.ncbi.nlm.nih.gov): check its network connection")
    assert "NCBI_API_KEY" not in fix and "max_retries" not in fix
    assert_nothing_written(root)


# --- a real contact address is required (NCBI_EMAIL or config entrez.email) ---------------------


def test_the_shipped_config_has_no_placeholder_address() -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    assert config["entrez"]["email"] == ""


@pytest.mark.parametrize(
    ("env", "config_email", "said"),
    [
        (None, "", "NCBI_EMAIL is not set and config entrez.email is empty"),
        (None, None, "NCBI_EMAIL is not set and config entrez.email is empty"),
        ("", "livingreview@example.org", "NCBI_EMAIL is not set and config entrez.email 'livingreview@example.org' is a placeholder"),
        ("me@mail.example.com", "", "NCBI_EMAIL 'me@mail.example.com' is a placeholder (example.org/example.com/example.net addresses count as not set) and config entrez.email is empty"),
        ("me", "nobody@example.net", "NCBI_EMAIL 'me' is not an e-mail address and config entrez.email 'nobody@example.net' is a placeholder"),
    ],
)
def test_no_contact_address_stops_before_any_request(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: str | None, config_email: str | None, said: str
) -> None:
    if env is not None:
        monkeypatch.setenv("NCBI_EMAIL", env)
    server = fake(make_records(10))
    root = tmp_path / "searches"
    _archive(root, "2025-09-30", "pubmed", "2025/09/30")
    before = sorted(p.name for p in root.iterdir())
    config = write_config(tmp_path, email=config_email)
    started = time.monotonic()
    code = cli.main(["search", "pubmed", "--since", "last", "--config", str(config), "--root", str(root)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"livingreview: error: {config}: {said}")
    assert "NCBI requires a real contact address for live searches; fix: export NCBI_EMAIL=" in lines[0]
    assert "or set entrez.email in" in lines[0]
    # no request, no retries, no new run folder
    assert server.requests == []
    assert elapsed < 1.0
    assert sorted(p.name for p in root.iterdir()) == before


def test_the_project_config_without_ncbi_email_fails_at_once(fake: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`make update`'s first step with NCBI_EMAIL unset and config/config.yaml as shipped."""
    server = fake(make_records(10))
    root = tmp_path / "searches"
    shutil.copytree(shipped_resources() / "searches", root)
    before = sorted(p.name for p in root.iterdir())
    code = cli.main(["search", "pubmed", "--since", "last", "--config", str(ROOT / "config" / "config.yaml"), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (
        f"livingreview: error: {ROOT / 'config' / 'config.yaml'}: NCBI_EMAIL is not set and config entrez.email is empty: "
        "NCBI requires a real contact address for live searches; fix: export NCBI_EMAIL=name@your-institution.org "
        f"(or set entrez.email in {ROOT / 'config' / 'config.yaml'}); in GitHub Actions add the repository secret NCBI_EMAIL"
    )
    assert server.requests == []
    assert sorted(p.name for p in root.iterdir()) == before


def test_a_placeholder_ncbi_email_falls_back_to_a_real_config_address(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NCBI_EMAIL", "you@example.org")
    server = fake(make_records(5, start=dt.date(2020, 1, 1)))
    caplog.set_level(logging.WARNING, logger="livingreview")
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY).path
    assert run_dir is not None
    assert {r.params.get("email") for r in server.requests} == {CONTACT}
    assert "NCBI_EMAIL 'you@example.org' is a placeholder" in caplog.text and "using config entrez.email instead" in caplog.text


def test_ncbi_email_overrides_the_config_address(tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCBI_EMAIL", "  person@hospital.test ")
    server = fake(make_records(3, start=dt.date(2020, 1, 1)))
    assert run_pubmed_search(config_path=write_config(tmp_path), root=tmp_path / "searches", today=TODAY).path is not None
    assert {r.params.get("email") for r in server.requests} == {"person@hospital.test"}


def test_search_pubmed_refuses_settings_without_an_address(fake: Any) -> None:
    server = fake(make_records(3))
    with pytest.raises(ConfigError, match="entrez email is empty: NCBI requires a real contact address"):
        search_pubmed("ketamine", date_from="inception", date_to="2025/09/30", settings=EntrezSettings(), sleep=Sleeps())
    with pytest.raises(ConfigError, match="entrez email 'a@example.com' is a placeholder"):
        search_pubmed("ketamine", date_from="inception", date_to="2025/09/30", settings=EntrezSettings(email="a@example.com"), sleep=Sleeps())
    assert server.requests == []


@pytest.mark.parametrize(
    ("address", "usable"),
    [
        ("reviewer@university.edu", True),
        ("x@example.org.uk", True),
        ("x@myexample.org", True),
        ("livingreview@example.org", False),
        ("x@EXAMPLE.COM", False),
        ("x@sub.example.net.", False),
        ("", False),
        ("   ", False),
        ("reviewer", False),
        ("@university.edu", False),
        ("reviewer@", False),
    ],
)
def test_usable_email(address: str, usable: bool) -> None:
    assert usable_email(address) is usable


@pytest.mark.parametrize(
    ("now", "day"),
    [
        (dt.datetime(2025, 11, 1, 6, 0, tzinfo=dt.UTC), dt.date(2025, 11, 1)),  # the GitHub schedule: 01:00 EST
        (dt.datetime(2025, 11, 1, 4, 30, tzinfo=dt.UTC), dt.date(2025, 10, 31)),  # still the 31st in New York
        (dt.datetime(2025, 11, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))), dt.date(2025, 10, 31)),  # 06:00 in Tokyo
    ],
)
def test_ncbi_today_is_the_date_in_new_york(now: dt.datetime, day: dt.date) -> None:
    from livingreview.search import ncbi_today

    assert ncbi_today(now) == day


def test_an_update_run_east_of_new_york_ends_on_ncbis_date(tmp_path: Path, fake: Any) -> None:
    # A server in Tokyo runs the update at 06:00 on 1 November: at NCBI it is still 31 October. The
    # search must end on the 31st, so the next --since last starts there and records entered later
    # on the 31st are found then (ending on the 1st, the next search started on the 1st: missed).
    root = tmp_path / "searches"
    _archive(root, "2025-10-01", "pubmed", "2025/10/01")
    server = fake([FakeRecord("990000001", dt.date(2025, 10, 20))])
    now = dt.datetime(2025, 11, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    run = run_pubmed_search(config_path=write_config(tmp_path), root=root, since="last", now=now, sleep=lambda s: None).path
    assert run is not None and run.name == now.astimezone().date().isoformat()  # the run is dated by the local clock
    assert load_manifest(run).files[0].date_limits == {"from": "2025/10/01", "to": "2025/10/31", "datetype": "edat"}
    assert {(r.params.get("mindate"), r.params.get("maxdate")) for r in server.calls("esearch")} == {("2025/10/01", "2025/10/31")}


def test_a_search_of_one_day_is_allowed() -> None:
    from livingreview.search import resolve_date_limits

    # --since and --until the same day: both ends are inclusive, so one day is a valid range
    got = resolve_date_limits({"searches": {}}, since="2025/10/31", until="2025/10/31", root="unused", today=dt.date(2025, 11, 5))
    assert got == ("2025/10/31", "2025/10/31")
    with pytest.raises(SearchError, match=r"starts after it ends \(2025/11/01 > 2025/10/31\)"):
        resolve_date_limits({"searches": {}}, since="2025/11/01", until="2025/10/31", root="unused", today=dt.date(2025, 11, 5))


def test_since_last_with_two_pubmed_files_in_one_run_starts_at_the_earliest_end_date(tmp_path: Path) -> None:
    root = tmp_path / "searches"
    entries = [
        RunFile(name=name, database="pubmed", platform="test", format="pubmed_xml", query="q", date_limits={"from": "inception", "to": to},
                count_reported=0, count_in_file=0)
        for name, to in (("a.xml", "2025/10/31"), ("b.xml", "2025/10/15"))
    ]
    write_run(root, Manifest(run_id="2025-10-31", date_run="2025-10-31", files=entries), {"a.xml": b"", "b.xml": b""})
    # the later end date would miss what the other file's query found between 10/15 and 10/31
    assert last_search_date(root) == "2025/10/15"


@pytest.mark.parametrize(("text", "first", "last"), [
    ("2025/09", dt.date(2025, 9, 1), dt.date(2025, 9, 30)),
    ("2025/10", dt.date(2025, 10, 1), dt.date(2025, 10, 31)),
    ("2024/02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    ("2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ("2025/09/30", dt.date(2025, 9, 30), dt.date(2025, 9, 30)),
])
def test_a_month_date_limit_covers_the_whole_month(text: str, first: dt.date, last: dt.date) -> None:
    from livingreview.search import date_limit_period

    assert date_limit_period(text) == (first, last)


def test_fetched_pmids_that_differ_from_esearch_list_stop_the_search() -> None:
    from livingreview.search import _check_counts

    _check_counts(2, {"count": 2, "ids": ["11", "12"]}, ["12", "11"])  # same set, any order: fine
    with pytest.raises(SearchError, match=r"the PMIDs fetched differ from esearch's list \(2 differ, e.g. 12, 13\)"):
        _check_counts(2, {"count": 2, "ids": ["11", "12"]}, ["11", "13"])


def test_fetched_pmids_that_are_not_numbers_stop_the_search() -> None:
    """A PMID that is not a number would become a record id later searches do not see as archived."""
    from livingreview.search import _check_counts

    with pytest.raises(SearchError, match=r"efetch: 2 fetched record\(s\) have a PMID that is not a number \(e.g. '\.\./\.\./x', '012'\)"):
        _check_counts(3, {"count": 3, "ids": ["11", "../../x", "012"]}, ["11", "../../x", "012"])


def test_a_count_that_changed_while_fetching_is_searched_again_from_the_start(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PubMed adds records all day and an update search ends today: when the count moves between the
    first esearch and the last count check, the search starts again and archives the stable set."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    server = fake(make_records(120, start=dt.date(2015, 1, 1)))
    server.set(grow_after_first_search=3)  # 3 records arrive once, after the first esearch
    root = tmp_path / "searches"
    caplog.set_level(logging.WARNING, logger="livingreview")
    run_dir = run_pubmed_search(config_path=write_config(tmp_path), root=root, today=TODAY, sleep=Sleeps()).path
    assert run_dir is not None
    (entry,) = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert entry["count_reported"] == entry["count_in_file"] == 123
    assert "PubMed's count changed during the search (120 at the start, 123 at the end); searching again from the start (attempt 2 of 3)" in caplog.text
    assert sum(1 for r in server.calls("esearch") if r.params.get("usehistory") == "y") == 2


def test_the_result_line_says_what_the_search_found_once(
    tmp_path: Path, fake: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """stdout's one result line: the run and how many records were new and left out; when every record
    found is archived already it says so (not 'found nothing'), and stderr does not repeat it."""
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    records = make_records(200, start=dt.date(2025, 8, 1))  # one record a day from 2025-08-01
    fake(records)
    root = tmp_path / "searches"
    config = str(write_config(tmp_path))
    search = ["search", "pubmed", "--config", config, "--root", str(root)]
    assert cli.main([*search, "--since", "2025/12/01", "--until", "2025/12/31", "--run-id", "2026-01-10"]) == 0
    first = capsys.readouterr()
    december = sum(dt.date(2025, 12, 1) <= r.date <= dt.date(2025, 12, 31) for r in records)
    assert december == 31
    assert first.out == f"archived PubMed run: {root / '2026-01-10'} (31 new records of 31 found for 2025/12/01..2025/12/31 (edat))\n"
    # November to December: November's 30 records are new, December's 31 were archived above
    assert cli.main([*search, "--since", "2025/11/01", "--until", "2025/12/31", "--run-id", "2026-01-11"]) == 0
    second = capsys.readouterr()
    assert second.out == (
        f"archived PubMed run: {root / '2026-01-11'} (30 new records of 61 found for 2025/11/01..2025/12/31 (edat); "
        "31 already archived in 2026-01-10 (31), left out)\n"
    )
    assert cli.main([*search, "--since", "2025/12/01", "--until", "2025/12/31", "--run-id", "2026-01-12"]) == 0
    third = capsys.readouterr()
    assert third.out == "no new records: PubMed found 31 for 2025/12/01..2025/12/31 (edat), all 31 already archived in 2026-01-10 (31); no run was written\n"
    assert cli.main([*search, "--since", "1990/01/01", "--until", "1990/12/31", "--run-id", "2026-01-13"]) == 0
    fourth = capsys.readouterr()
    assert fourth.out == "no new records: PubMed found nothing for 1990/01/01..1990/12/31 (edat); no run was written\n"
    # one new record: "1 new record", not "1 new records"
    assert cli.main([*search, "--since", "2025/10/31", "--until", "2025/11/30", "--run-id", "2026-01-14"]) == 0
    fifth = capsys.readouterr()
    assert fifth.out == (
        f"archived PubMed run: {root / '2026-01-14'} (1 new record of 31 found for 2025/10/31..2025/11/30 (edat); "
        "30 already archived in 2026-01-11 (30), left out)\n"
    )
    for captured in (first, second, third, fourth, fifth):
        assert "archived" not in captured.err and "no new records" not in captured.err
    assert sorted(p.name for p in root.iterdir()) == ["2026-01-10", "2026-01-11", "2026-01-14"]


def test_server_text_shown_to_people_has_its_control_characters_written_as_escapes() -> None:
    """Text a server sends (an HTTP error's JSON, an esearch warning or query translation) reaches the
    terminal and the manifest's notes: a control character in it (an escape sequence that would set the
    window title, a C1 control) is written as \\xNN, as trace does for text from exports."""
    import io
    from urllib.error import HTTPError

    import livingreview.search as search

    body = json.dumps({"error": "API key invalid \x1b]0;PWNED\x07 sorry"}).encode("utf-8")
    err = HTTPError("https://eutils.invalid/esearch.fcgi", 400, "Bad Request", {}, io.BytesIO(body))  # type: ignore[arg-type]
    assert search._error_detail(err) == "API key invalid \\x1b]0;PWNED\\x07 sorry"
    reply = (
        '<?xml version="1.0"?>\n<eSearchResult><Count>0</Count><RetMax>0</RetMax><RetStart>0</RetStart><IdList/>'
        "<QueryTranslation>ketamine&#x9b;31m[tiab]</QueryTranslation>"
        "<WarningList><OutputMessage>No items&#x85;found</OutputMessage></WarningList></eSearchResult>\n"
    ).encode("utf-8")
    parsed = search._parse_esearch(reply)
    assert parsed["translation"] == "ketamine\\x9b31m[tiab]"
    assert parsed["messages"] == ["WarningList OutputMessage: No items\\x85found"]


def test_read_reply_keeps_its_deadline_for_a_reply_biopython_wraps_as_text() -> None:
    """Bio.Entrez wraps a text/plain reply in io.TextIOWrapper, which has no read1: its read(n) loops
    over the socket until n characters or the end, so a reply trickling in byte by byte was read in
    one call and the deadline never checked (nor a reply that is not UTF-8: a UnicodeDecodeError
    traceback). The bytes under the wrapper are read piece by piece, as for an XML reply."""
    import livingreview.search as search

    class Trickle(io.RawIOBase):
        """A socket giving one byte per wait."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            part, self.data = self.data[:1], self.data[1:]
            buffer[: len(part)] = part
            return len(part)

    def wrapped(data: bytes) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BufferedReader(Trickle(data)), encoding="UTF-8")

    ticks = iter(range(1000))  # the clock moves 1 s per reading
    with pytest.raises(TimeoutError, match=r"reply not complete within 2.5 s .*; 3 bytes so far\)"):
        search._read_reply(wrapped(b"<eSearchResult>" + b"x" * 50 + b"</eSearchResult>"), limit_seconds=2.5, clock=lambda: float(next(ticks)))
    assert search._read_reply(wrapped("<x>é</x>".encode()), limit_seconds=100.0, clock=lambda: 0.0) == "<x>é</x>".encode()
    # not UTF-8: the bytes go to the XML parser (a retried bad reply), not a UnicodeDecodeError
    assert search._read_reply(wrapped(b"<x>\xff</x>"), limit_seconds=100.0, clock=lambda: 0.0) == b"<x>\xff</x>"
