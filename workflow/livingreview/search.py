"""Live PubMed search through Bio.Entrez: history-server esearch, batched efetch, retries, count check, archived run."""

from __future__ import annotations

import calendar
import datetime as dt
import gzip
import http.client
import json
import logging
import math
import os
import platform as _platform
import re
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError, URLError

import Bio
from Bio import Entrez
from lxml import etree

from . import __version__
from .config import load_config
from .errors import ArchiveError, ConfigError, SearchError
from .logutil import show_controls
from .parsers.pubmed_xml import ARTICLE_TAGS, article_pmid
from .runs import (
    RUN_ID_FORM,
    Manifest,
    RunFile,
    archived_by_runs,
    archived_record_ids,
    check_none_archived_since,
    check_run_comes_last,
    clean_partial_runs,
    is_run_id,
    list_runs,
    load_manifest,
    next_run_id,
    write_run,
)

LOG = logging.getLogger("livingreview.search")

PUBMED_FILE = "pubmed.xml.gz"
PUBMED_PLATFORM = "PubMed (NCBI E-utilities)"
PUBMED_FORMAT = "pubmed_xml"
INCEPTION = "inception"
# NCBI needs mindate and maxdate together; "inception" is sent as a date before any PubMed record.
INCEPTION_MINDATE = "1000/01/01"
MAX_BATCH = 10_000  # NCBI's ceiling for retmax
# PubMed's E-utilities return at most the first 9,999 records of one search (esearch caps IdList there
# and refuses a retstart above 9998; the history server is no way around it). A larger result set is
# searched in date ranges of at most this many records each (as EDirect does), and their union is
# checked against the count of the whole range.
MAX_PER_SEARCH = 9_999
MAX_BACKOFF_SECONDS = 120.0  # cap of our own exponential backoff
# A result set that changed while it was fetched (PubMed adds records all day, and an update search
# ends today) is searched again from the start, at most this many times in all.
SEARCH_ATTEMPTS = 3
# A Retry-After from NCBI (seconds or an HTTP date) is honoured in full up to this; a longer one stops
# the search with a SearchError saying to re-run it later (nothing is written).
MAX_RETRY_AFTER_SECONDS = 600.0
# Update searches (--since) select records by the date they entered PubMed (Entrez date), whatever
# entrez.datetype says: by publication date a record published before the last run but indexed
# after it would fall before --since and never be found.
UPDATE_DATETYPE = "edat"
DATETYPE_WORDS = {
    "pdat": "publication date (pdat)",
    "edat": "Entrez date (edat: the date a record entered PubMed)",
    "mdat": "modification date (mdat)",
    "crdt": "create date (crdt: the date the PubMed record was created)",
}
# NCBI dates records (edat) in US Eastern time. The end date of a search defaults to today there, at
# UTC-5 (EST; during EDT this is at most an hour behind, so never a day NCBI has not reached): a
# search run east of New York on the 1st must not end on the 1st while NCBI is still on the 31st,
# or records entered later on the 31st would fall before the next `--since last` and be missed.
NCBI_TIMEZONE = dt.timezone(dt.timedelta(hours=-5), "UTC-5")
API_KEY_ENV = "NCBI_API_KEY"
EMAIL_ENV = "NCBI_EMAIL"
# Addresses under these domains (RFC 2606 examples) are placeholders, never a real contact: treated as not set.
PLACEHOLDER_EMAIL_DOMAINS = ("example.org", "example.com", "example.net")
DATE_RE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")
# The forms of a date limit an archived run may record (add-run --date-from/--date-to; "inception" for from).
DATE_LIMIT_FORMS = "YYYY/MM/DD, YYYY-MM-DD, YYYY/MM or YYYY"
_LIMIT_DAY_RE = re.compile(r"^(\d{4})([/-])(\d{2})\2(\d{2})$")
_LIMIT_MONTH_RE = re.compile(r"^(\d{4})/(\d{2})$")
_LIMIT_YEAR_RE = re.compile(r"^(\d{4})$")
DOCTYPE_FALLBACK = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)


class _RetryableResponse(Exception):
    """A reply that should be requested again (truncated or unparsable XML, an <ERROR> body)."""


@dataclass(frozen=True)
class EntrezSettings:
    """How to talk to NCBI: contact details, batch size and the retry policy (config ``entrez:``)."""

    email: str = ""  # a real contact address is required: see contact_email()
    tool: str = "livingreview"
    batch_size: int = 500
    max_retries: int = 6
    timeout_seconds: float = 60.0
    backoff_seconds: float = 1.0
    datetype: str = "edat"  # date field of a search without --since; update searches use UPDATE_DATETYPE


@dataclass
class SearchResult:
    """What one PubMed search returned: the merged XML, its PMIDs and what esearch reported."""

    query: str
    query_translation: str
    mindate: str
    maxdate: str
    datetype: str
    count_reported: int
    pmids: list[str]
    articles: list[bytes]  # one serialised PubmedArticle/PubmedBookArticle per PMID, as fetched
    doctype: str = ""
    requests: int = 0
    retries: int = 0
    warnings: list[str] = field(default_factory=list)
    api_key_used: bool = False
    # the date ranges (mindate, maxdate, count) searched one by one when the whole range held more
    # than MAX_PER_SEARCH records; empty when one search held it all
    ranges: list[tuple[str, str, int]] = field(default_factory=list)
    found_twice: int = 0  # records matched by two of those ranges (kept once)


def parse_date(text: str, *, what: str) -> dt.date:
    """A YYYY/MM/DD date (NCBI's format); a bad one is a ConfigError naming ``what``."""
    m = DATE_RE.match(text.strip())
    try:
        if not m:
            raise ValueError(text)
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ConfigError(f"{what} '{text}' is not a date in YYYY/MM/DD form", where=what, fix="write it like 2025/09/30") from None


def date_limit_period(text: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day a date limit covers (a day, a month or a year); None unless ``text`` is
    one of DATE_LIMIT_FORMS and a calendar date."""
    text = text.strip()
    try:
        if m := _LIMIT_DAY_RE.match(text):
            day = dt.date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
            return day, day
        if m := _LIMIT_MONTH_RE.match(text):
            year, month = int(m.group(1)), int(m.group(2))
            return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
        if m := _LIMIT_YEAR_RE.match(text):
            return dt.date(int(m.group(1)), 1, 1), dt.date(int(m.group(1)), 12, 31)
    except ValueError:
        return None
    return None


def normalize_date_limit(text: str) -> str:
    """A valid date limit in NCBI's slash form (2025-09-30 -> 2025/09/30; months and years as given)."""
    text = text.strip()
    return text.replace("-", "/") if _LIMIT_DAY_RE.match(text) else text


def format_date(day: dt.date) -> str:
    """NCBI's YYYY/MM/DD form of a date."""
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def usable_email(address: str) -> bool:
    """True for something that can be a real contact address: has an '@' and is not under example.org/.com/.net."""
    local, at, domain = address.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not (at and local and domain):
        return False
    return not any(domain == d or domain.endswith("." + d) for d in PLACEHOLDER_EMAIL_DOMAINS)


def _describe_email(label: str, address: str) -> str:
    """Why ``address`` (from ``label``) cannot be used: not set, a placeholder, or not an address."""
    if not address:
        return f"{label} is {'not set' if label == EMAIL_ENV else 'empty'}"
    if "@" in address and address.rpartition("@")[0] and address.rpartition("@")[2]:
        return f"{label} '{address}' is a placeholder ({'/'.join(PLACEHOLDER_EMAIL_DOMAINS)} addresses count as not set)"
    return f"{label} '{address}' is not an e-mail address"


def contact_email(config: dict[str, Any], *, where: str = "config/config.yaml") -> str:
    """The contact address sent to NCBI: NCBI_EMAIL from the environment, else config entrez.email.

    NCBI requires a real contact address for E-utilities, so a live search stops here, before any
    request, with a ConfigError when neither is a usable address (empty, a placeholder under
    example.org/.com/.net, or without '@'). A placeholder NCBI_EMAIL counts as not set.
    """
    env = os.environ.get(EMAIL_ENV, "").strip()
    conf = str((config.get("entrez") or {}).get("email") or "").strip()
    if usable_email(env):
        return env
    if usable_email(conf):
        if env:
            LOG.warning("%s; using config entrez.email instead", _describe_email(EMAIL_ENV, env))
        return conf
    raise ConfigError(
        f"{_describe_email(EMAIL_ENV, env)} and {_describe_email('config entrez.email', conf)}: NCBI requires a real contact address for live searches",
        where=where,
        fix=(
            f"export {EMAIL_ENV}=name@your-institution.org (or set entrez.email in {where}); "
            f"in GitHub Actions add the repository secret {EMAIL_ENV}"
        ),
    )


def settings_from_config(config: dict[str, Any], *, where: str = "config/config.yaml") -> EntrezSettings:
    """EntrezSettings from a validated config; NCBI_EMAIL in the environment overrides entrez.email.

    Raises ConfigError (before any request) when no real contact address is given: see contact_email.
    """
    ent = dict(config.get("entrez") or {})
    email = contact_email(config, where=where)
    batch = int(ent.get("batch_size", EntrezSettings.batch_size))
    if not 1 <= batch <= MAX_BATCH:
        raise ConfigError(f"entrez.batch_size {batch} is outside 1..{MAX_BATCH}", where="config entrez.batch_size", fix="use at most 10000")
    return EntrezSettings(
        email=email,
        tool=str(ent.get("tool", EntrezSettings.tool)),
        batch_size=batch,
        max_retries=int(ent.get("max_retries", EntrezSettings.max_retries)),
        timeout_seconds=float(ent.get("timeout_seconds", EntrezSettings.timeout_seconds)),
        backoff_seconds=float(ent.get("backoff_seconds", EntrezSettings.backoff_seconds)),
        datetype=str(ent.get("datetype", EntrezSettings.datetype)),
    )


def pubmed_strategy(config: dict[str, Any]) -> str:
    """The PubMed strategy of config searches.sources (whitespace folded as YAML '>-' does)."""
    for source in config.get("searches", {}).get("sources", []):
        if source.get("database") == "pubmed":
            query = " ".join(str(source.get("strategy", "")).split())
            if not query:
                break
            return query
    raise ConfigError(
        "no PubMed strategy in searches.sources",
        where="config searches.sources",
        fix="add a source with database: pubmed and its strategy",
    )


def last_search_date(root: str | os.PathLike[str]) -> str:
    """The start of a ``--since last`` search: the end date (date_limits.to) of the newest archived
    run that holds a PubMed file with a usable end date, as YYYY/MM/DD.

    A run whose PubMed file has no end date, or one that is not a date (add-run without --date-to, an
    old manifest), is skipped with a warning naming it: archived manifests are never edited, so one
    such run must not block every later update. An end date given as a month or a year starts the
    search on its first day (nothing in it is missed; records archived already are left out). With
    several PubMed files in one run the earliest end date counts.
    """
    skipped: list[tuple[str, str, str | None]] = []  # (run id, file, its date_limits.to or None)
    found_pubmed = False
    for run_dir in reversed(list_runs(root)):
        manifest = load_manifest(run_dir)
        starts = []
        for f in manifest.files:
            if f.database != "pubmed":
                continue
            found_pubmed = True
            to = f.date_limits.get("to")
            period = date_limit_period(to) if to is not None else None
            if period is None:
                skipped.append((manifest.run_id, f.name, to))
            else:
                starts.append(period[0])
        if starts:
            since = format_date(min(starts))
            for run_id, name, to in skipped:
                why = "it has no date_limits.to" if to is None else f"its date_limits.to {to!r} is not a date"
                LOG.warning("--since last: skipped run %s (%s): %s; the search starts at the end date of run %s (%s)", run_id, name, why, manifest.run_id, since)
            return since
    if found_pubmed:
        listed = ", ".join(f"{run_id} has {'none' if to is None else repr(to)}" for run_id, _, to in skipped)
        raise SearchError(
            f"--since last found no archived PubMed run with an end date (date_limits.to): {listed}",
            where=str(root),
            fix="give the start date yourself, e.g. --since YYYY/MM/DD with the end date of the last PubMed search (archived manifests are never edited)",
        )
    raise SearchError(
        "--since last needs an archived PubMed run, but none was found",
        where=str(root),
        fix="run `livingreview search pubmed` once without --since, or archive an export with `livingreview add-run`",
    )


def resolve_date_limits(
    config: dict[str, Any],
    *,
    since: str | None,
    until: str | None,
    root: str | os.PathLike[str],
    today: dt.date,
) -> tuple[str, str]:
    """The (from, to) date limits of a search, ``from`` being YYYY/MM/DD or 'inception'.

    Without --since and --until the config's searches.date_from..date_to reproduce the original
    search. With --since (a date, or 'last' = the 'to' date of the newest archived PubMed run) the
    search ends ``today`` (run_pubmed_search passes today's date at NCBI, ncbi_today) unless --until
    is given. Both ends are inclusive: the boundary day is searched
    again, and dedup links the records found twice, so nothing published that day is missed.
    """
    searches = config.get("searches", {})
    if since is None:
        date_from = str(searches.get("date_from", INCEPTION))
        date_to = until or (str(searches.get("date_to")) if searches.get("date_to") else format_date(today))
    else:
        date_from = last_search_date(root) if since == "last" else since
        date_to = until or format_date(today)
    end = parse_date(date_to, what="--until" if until else "config searches.date_to")
    if date_from != INCEPTION:
        start = parse_date(date_from, what="--since" if since else "config searches.date_from")
        if start > end:
            raise SearchError(
                f"the date range starts after it ends ({date_from} > {date_to})",
                where="--since/--until",
                fix="give a --since date on or before --until",
            )
    return date_from, date_to


def ncbi_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date at NCBI (NCBI_TIMEZONE) at ``now`` (default: the current time; a naive ``now`` is local time)."""
    now = now if now is not None else dt.datetime.now(dt.UTC)
    return now.astimezone(NCBI_TIMEZONE).date()


@contextmanager
def _entrez_session(settings: EntrezSettings) -> Iterator[bool]:
    """Configure Bio.Entrez for one search and restore its globals afterwards; yields whether an API key is used.

    Bio.Entrez already spaces requests (0.37 s apart, 0.1 s with an API key: NCBI's 3 and 10 per
    second) and we keep that. Its own retry loop retries HTTP 429/5xx at once, ignores Retry-After,
    sleeps a fixed 15 s on network errors and does not see read timeouts or truncated XML, so it is
    set to a single try and ``_Caller.call`` owns the whole retry policy. The API key comes from the
    environment only and is never logged or written.
    """
    saved = (Entrez.email, Entrez.tool, Entrez.api_key, Entrez.max_tries, Entrez.sleep_between_tries, socket.getdefaulttimeout())
    api_key = os.environ.get(API_KEY_ENV) or None
    Entrez.email = settings.email
    Entrez.tool = settings.tool
    Entrez.api_key = api_key
    Entrez.max_tries = 1
    Entrez.sleep_between_tries = 0
    # Bio.Entrez calls urlopen without a timeout: the socket default applies to its connections.
    socket.setdefaulttimeout(settings.timeout_seconds)
    try:
        yield api_key is not None
    finally:
        Entrez.email, Entrez.tool, Entrez.api_key, Entrez.max_tries, Entrez.sleep_between_tries, default_timeout = saved
        socket.setdefaulttimeout(default_timeout)


def _retry_after(err: HTTPError, now: float) -> float | None:
    """Seconds a reply's Retry-After header asks to wait, given as seconds or as an HTTP date (RFC 9110).

    ``now`` is the current time (seconds since the epoch) for an HTTP date; a date in the past is 0.
    None when the header is absent or unreadable (the exponential backoff applies then).
    """
    value = ((err.headers.get("Retry-After") if err.headers else None) or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are in GMT
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _error_detail(err: HTTPError, limit: int = 300) -> str:
    """What NCBI's error reply says, in one line: the JSON 'error' field, the XML <ERROR> text, or the
    start of the body. The API key (NCBI's JSON echoes it) is replaced by '***': it is never shown."""
    try:
        body = err.read(64_000) or b""
    except (OSError, http.client.HTTPException, AttributeError):
        return ""
    text = body.decode("utf-8", errors="replace")
    detail = ""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            detail = data["error"]
    except ValueError:
        pass
    if not detail:
        m = re.search(r"<ERROR>(.*?)</ERROR>", text, flags=re.S)
        detail = m.group(1) if m else ("" if "<html" in text.lower() else text)
    detail = show_controls(" ".join(detail.split()))
    if Entrez.api_key:
        detail = detail.replace(Entrez.api_key, "***")
    return detail[:limit]


class _Caller:
    """Runs E-utility calls with retries and exponential backoff, counting requests and retries.

    ``sleep`` and ``clock`` (seconds since the epoch, for Retry-After dates) are injectable for tests.
    """

    def __init__(self, settings: EntrezSettings, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.requests = 0
        self.retries = 0

    def call(self, what: str, request: Callable[[], IO[Any]], parse: Callable[[bytes], Any]) -> Any:
        """Send ``request`` and parse its body, retrying on 429/5xx, network errors, timeouts and bad XML.

        The delay before a retry is the exponential backoff (capped at MAX_BACKOFF_SECONDS) or the
        reply's Retry-After if longer, honoured in full up to MAX_RETRY_AFTER_SECONDS; a longer
        Retry-After stops the search at once with a SearchError (re-run later).
        """
        attempts = self.settings.max_retries + 1
        last = ""
        unreachable = False  # the last attempt could not connect at all (no network, DNS, refused)
        for attempt in range(attempts):
            unreachable = False
            delay = min(self.settings.backoff_seconds * (2**attempt), MAX_BACKOFF_SECONDS)
            self.requests += 1
            try:
                handle = request()
                try:
                    body = _read_reply(handle, limit_seconds=REPLY_DEADLINE_FACTOR * self.settings.timeout_seconds)
                finally:
                    handle.close()
                if isinstance(body, str):
                    body = body.encode("utf-8")
                return parse(body)
            except HTTPError as err:
                said = _error_detail(err)
                err.close()
                if err.code != 429 and not 500 <= err.code < 600:
                    key_hint = "check NCBI_API_KEY (NCBI answers a wrong key with HTTP 400 too), " if Entrez.api_key and err.code == 400 else ""
                    raise SearchError(
                        f"{what}: NCBI answered HTTP {err.code} ({err.reason}){': ' + said if said else ''}",
                        where="E-utilities",
                        fix=f"{key_hint}check the query syntax and the config entrez settings; a 400 often means a malformed query",
                    ) from None
                last = f"HTTP {err.code} {err.reason}"
                wait = _retry_after(err, self.clock())
                if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                    raise SearchError(
                        f"{what}: NCBI answered HTTP {err.code} ({err.reason}) and asked to wait {math.ceil(wait):d} s (Retry-After) "
                        f"before the next request, longer than the {MAX_RETRY_AFTER_SECONDS:.0f} s a search waits",
                        where="NCBI E-utilities",
                        fix="re-run the search later (nothing was written)",
                    ) from None
                delay = max(delay, wait or 0.0)
            except TimeoutError as err:
                last = str(err) if isinstance(err, _ReplyTooSlow) else f"no reply within {self.settings.timeout_seconds:g} s"
            except URLError as err:
                reason = err.reason
                timed_out = isinstance(reason, (TimeoutError, socket.timeout))
                last = f"no reply within {self.settings.timeout_seconds:g} s" if timed_out else f"network error ({reason})"
                unreachable = not timed_out
            except (http.client.HTTPException, ConnectionError, OSError) as err:
                last = f"connection broken ({type(err).__name__})"
            except _RetryableResponse as err:
                last = str(err)
            if attempt + 1 < attempts:
                self.retries += 1
                LOG.warning("%s: %s; retry %d of %d in %.3g s", what, last, attempt + 1, self.settings.max_retries, delay)
                self.sleep(delay)
        if unreachable:
            fix = ("this machine could not connect to NCBI (eutils.ncbi.nlm.nih.gov): check its network connection "
                   "(DNS, proxy, firewall), then run the search again; nothing was written")
        else:
            fix = "NCBI may be down or rate-limiting: try again later, set NCBI_API_KEY, or raise entrez.max_retries / entrez.timeout_seconds in config/config.yaml"
        raise SearchError(f"{what} failed after {attempts} attempt(s); last error: {last}", where="NCBI E-utilities", fix=fix)


# entrez.timeout_seconds bounds each wait for data; a whole reply must also arrive within this many
# times it, so a server that sends a byte now and then (each wait short) cannot hold a search for
# hours, and a reply may not exceed MAX_REPLY_BYTES (an efetch batch of 10,000 records is far smaller).
REPLY_DEADLINE_FACTOR = 10
MAX_REPLY_BYTES = 1 << 30


class _ReplyTooSlow(TimeoutError):
    """A reply whose bytes kept coming but did not end within the deadline (retried like a timeout)."""


def _read_reply(handle: IO[Any], *, limit_seconds: float, clock: Callable[[], float] = time.monotonic) -> bytes | str:
    """The whole body of ``handle``, read piece by piece (``read1`` returns what one wait brought) so
    the deadline is checked as data arrives: _ReplyTooSlow after ``limit_seconds``, _RetryableResponse
    beyond MAX_REPLY_BYTES. Bio.Entrez wraps a text/plain reply in io.TextIOWrapper, which has no read1
    (its read(n) waits for n characters or the end, past any deadline): its bytes are read instead."""
    raw = getattr(handle, "buffer", None)
    source = raw if raw is not None and hasattr(raw, "read1") else handle
    read = getattr(source, "read1", None) or source.read
    start = clock()
    parts: list[Any] = []
    size = 0
    while True:
        part = read(1 << 16)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > MAX_REPLY_BYTES:
            raise _RetryableResponse(f"reply larger than {MAX_REPLY_BYTES >> 20} MiB: not an E-utilities reply")
        if clock() - start > limit_seconds:
            raise _ReplyTooSlow(f"reply not complete within {limit_seconds:g} s ({REPLY_DEADLINE_FACTOR} x entrez.timeout_seconds; {size:,} bytes so far)")
    if not parts:
        return b""
    return "".join(parts) if isinstance(parts[0], str) else b"".join(parts)


def _parse_esearch(body: bytes) -> dict[str, Any]:
    """Count, WebEnv, QueryKey, QueryTranslation, IdList and messages of an esearch reply."""
    try:
        root = etree.fromstring(body, parser=_xml_parser())
    except etree.XMLSyntaxError as err:
        raise _RetryableResponse(f"unparsable esearch XML ({err})") from None
    if root.tag != "eSearchResult":
        raise _RetryableResponse(f"unexpected esearch reply <{root.tag}>")
    count_text = root.findtext("Count")
    error = root.findtext("ERROR")
    if error is not None and error.strip():
        # NCBI answers back-end failures with HTTP 200 and <ERROR>: ask again. A <Count> beside it
        # (0, say) is not a result: as Bio.Entrez.read, which raises on any <ERROR>, it is not trusted.
        raise _RetryableResponse(f"esearch reply has an <ERROR>: {show_controls(' '.join(error.split()))}")
    if count_text is None:
        raise _RetryableResponse("esearch reply has no <Count> (no ERROR given)")
    if not re.fullmatch(r"[0-9]+", count_text.strip()):
        raise _RetryableResponse(f"esearch reply's <Count> is not a whole number: {count_text.strip()[:40]!r}")
    messages = []
    for tag in ("ErrorList", "WarningList"):
        node = root.find(tag)
        if node is not None:
            messages += [show_controls(f"{tag} {child.tag}: {child.text or ''}".strip()) for child in node]
    return {
        "count": int(count_text.strip()),
        "webenv": root.findtext("WebEnv") or "",
        "query_key": root.findtext("QueryKey") or "",
        "translation": show_controls(" ".join((root.findtext("QueryTranslation") or "").split())),
        "ids": [e.text or "" for e in root.findall("IdList/Id")],
        "messages": messages,
    }


def _xml_parser() -> etree.XMLParser:
    """A parser that never reads DTDs or the network and keeps large trees."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _parse_efetch(expected: int) -> Callable[[bytes], tuple[list[etree._Element], str]]:
    """A parser for one efetch batch that wants ``expected`` articles; returns them and the DOCTYPE."""

    def parse(body: bytes) -> tuple[list[etree._Element], str]:
        try:
            root = etree.fromstring(body, parser=_xml_parser())
        except etree.XMLSyntaxError as err:
            raise _RetryableResponse(f"truncated or unparsable efetch XML ({err})") from None
        if root.tag != "PubmedArticleSet":
            detail = show_controls(" ".join((root.findtext("ERROR") or "").split()))
            raise _RetryableResponse(f"efetch returned <{root.tag}> instead of <PubmedArticleSet> {detail}".strip())
        articles = []
        for child in root:
            if not isinstance(child.tag, str):
                continue
            if child.tag not in ARTICLE_TAGS:
                raise SearchError(
                    f"efetch returned an unexpected <{child.tag}> element",
                    where="efetch",
                    fix="report it; only PubmedArticle and PubmedBookArticle are archived",
                )
            articles.append(child)
        if len(articles) != expected:
            raise _RetryableResponse(f"efetch batch holds {len(articles)} records, {expected} expected")
        for article in articles:
            # PubMed XML holds no entity reference (text is UTF-8; &lt; and the like are expanded by
            # the parser). One left unexpanded (declared in the reply's DTD, which is never read)
            # would be archived as is: the archive would then not parse, or lose its text silently.
            entity = next(article.iter(etree.Entity), None)
            if entity is not None:
                raise _RetryableResponse(
                    f"efetch record PMID {article_pmid(article) or '?'} holds the entity reference {entity.text}, "
                    "which PubMed XML never has and is not expanded"
                )
        doctype = root.getroottree().docinfo.doctype or ""
        return articles, doctype

    return parse


class _Progress:
    """A one-line progress bar on a terminal; log lines otherwise."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int) -> None:
        """Show that ``done`` of ``total`` records are fetched."""
        if self.tty:
            width = 30
            filled = int(width * done / self.total) if self.total else width
            self.stream.write(f"\rPubMed: [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} records")
            if done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
        else:
            LOG.info("fetched %d of %d records", done, self.total)


class _Collected:
    """The records fetched so far, in order, each PMID once; with a progress display over ``total``."""

    def __init__(self, total: int, progress_stream: IO[str] | None) -> None:
        self.pmids: list[str] = []
        self.chunks: list[bytes] = []
        self.doctype = ""
        self.found_twice = 0
        self.ranges: list[tuple[str, str, int]] = []
        self._seen: set[str] = set()
        self._progress = _Progress(total, progress_stream) if total else None
        self._done = 0

    def add(self, pmids: list[str], chunks: list[bytes], doctype: str) -> None:
        """Keep one checked result set; a PMID an earlier set holds (two date ranges matched it) is kept once."""
        self.doctype = self.doctype or doctype
        for pmid, chunk in zip(pmids, chunks, strict=True):
            if pmid in self._seen:
                self.found_twice += 1
                continue
            self._seen.add(pmid)
            self.pmids.append(pmid)
            self.chunks.append(chunk)

    def fetched(self, n: int) -> None:
        """Show that ``n`` more records were fetched."""
        self._done += n
        if self._progress is not None:
            self._progress.update(min(self._done, self._progress.total))


def _count_check(caller: _Caller, query: str, dates: dict[str, str], *, retmax: int = 0, of: str = "") -> dict[str, Any]:
    """The esearch made after fetching, to see that the result set did not change (with ``retmax`` its PMIDs too)."""
    return caller.call(
        f"esearch (count check{of})",
        lambda: Entrez.esearch(db="pubmed", term=query, retmax=retmax, **dates),
        _parse_esearch,
    )


def _fetch_set(
    caller: _Caller,
    query: str,
    dates: dict[str, str],
    first: dict[str, Any],
    settings: EntrezSettings,
    collected: _Collected,
    *,
    of: str = "",
) -> None:
    """Fetch one esearch result set (at most MAX_PER_SEARCH records) from the history server, check it
    against a second esearch (same count, same PMIDs) and add it to ``collected``."""
    count = first["count"]
    if not count:
        return
    if not first["webenv"] or not first["query_key"]:
        raise SearchError("esearch gave no WebEnv/QueryKey for the history server", where="esearch", fix="try again later")
    pmids: list[str] = []
    chunks: list[bytes] = []
    doctype = ""
    for start in range(0, count, settings.batch_size):
        size = min(settings.batch_size, count - start)
        articles, batch_doctype = caller.call(
            f"efetch records {start + 1}-{start + size} of {count}{of}",
            lambda start=start, size=size: Entrez.efetch(
                db="pubmed",
                retmode="xml",
                webenv=first["webenv"],
                query_key=first["query_key"],
                retstart=start,
                retmax=size,
            ),
            _parse_efetch(size),
        )
        doctype = doctype or batch_doctype
        for article in articles:
            pmids.append(article_pmid(article))
            chunks.append(etree.tostring(article, encoding="utf-8", with_tail=False))
        collected.fetched(size)
    _check_counts(count, _count_check(caller, query, dates, retmax=count, of=of), pmids)
    collected.add(pmids, chunks, doctype)


def _fetch_by_date(
    caller: _Caller,
    query: str,
    first_day: dt.date,
    last_day: dt.date,
    datetype: str,
    settings: EntrezSettings,
    collected: _Collected,
    whole: dict[str, Any],
) -> None:
    """Fetch first_day..last_day (inclusive) in date ranges of at most MAX_PER_SEARCH records: a range
    holding more is halved (the later half first, so records stay newest first, as PubMed sorts).
    ``whole`` is the esearch reply of the whole range, already made (it is not searched twice)."""
    pending: list[tuple[dt.date, dt.date, dict[str, Any] | None]] = [(first_day, last_day, whole)]
    while pending:
        lo, hi, known = pending.pop()
        dates = {"mindate": format_date(lo), "maxdate": format_date(hi), "datetype": datetype}
        span = dates["mindate"] if lo == hi else f"{dates['mindate']}-{dates['maxdate']}"
        first = known or caller.call(
            f"esearch {span}",
            lambda dates=dates: Entrez.esearch(db="pubmed", term=query, usehistory="y", retmax=0, **dates),
            _parse_esearch,
        )
        count = first["count"]
        if count <= MAX_PER_SEARCH:
            if count:
                LOG.info("date range %s: %d records", span, count)
                _fetch_set(caller, query, dates, first, settings, collected, of=f" for {span}")
                collected.ranges.append((dates["mindate"], dates["maxdate"], count))
            continue
        if lo == hi:
            raise SearchError(
                f"PubMed reports {count} records for {span} alone ({datetype}), more than the {MAX_PER_SEARCH} "
                "E-utilities return for one search, so they cannot all be fetched",
                where="esearch",
                fix="narrow the strategy in config searches.sources, or archive an export of that day with `livingreview add-run` (nothing was written)",
            )
        mid = lo + (hi - lo) // 2
        pending.append((lo, mid, None))  # popped last: the earlier half after the later one
        pending.append((mid + dt.timedelta(days=1), hi, None))


def _search_once(
    caller: _Caller, query: str, dates: dict[str, str], settings: EntrezSettings, progress_stream: IO[str] | None
) -> tuple[dict[str, Any], _Collected]:
    """One search from its first esearch to its last count check: the first esearch's reply and the
    records fetched (raises _CountChanged when PubMed's count moved meanwhile)."""
    first = caller.call(
        "esearch",
        lambda: Entrez.esearch(db="pubmed", term=query, usehistory="y", retmax=0, **dates),
        _parse_esearch,
    )
    count = first["count"]
    for message in first["messages"]:
        LOG.warning("esearch: %s", message)
    LOG.info("PubMed reports %d records; query translation: %s", count, first["translation"])
    collected = _Collected(count, progress_stream)
    if count <= MAX_PER_SEARCH:
        if count:
            _fetch_set(caller, query, dates, first, settings, collected)
        else:
            _check_counts(0, _count_check(caller, query, dates), [])
        return first, collected
    LOG.info("%d records are more than the %d PubMed returns for one search: searching in date ranges", count, MAX_PER_SEARCH)
    _fetch_by_date(
        caller,
        query,
        parse_date(dates["mindate"], what="mindate"),
        parse_date(dates["maxdate"], what="maxdate"),
        settings.datetype,
        settings,
        collected,
        first,
    )
    _check_split(count, _count_check(caller, query, dates)["count"], collected)
    return first, collected


def search_pubmed(
    query: str,
    *,
    date_from: str,
    date_to: str,
    settings: EntrezSettings,
    sleep: Callable[[float], None] = time.sleep,
    progress_stream: IO[str] | None = None,
) -> SearchResult:
    """Run a PubMed search and fetch every record as XML; raise SearchError unless the records match the count.

    esearch posts the result set on the history server (usehistory=y); efetch pages through it
    with retstart/retmax in batches of ``settings.batch_size``. A last esearch checks that the
    count did not change while fetching and that the PMIDs are the same set. PubMed returns at
    most MAX_PER_SEARCH (9,999) records of one search: a larger result set is searched in date
    ranges of at most that many records each, every range checked so, and the union (a record two
    ranges match is kept once) must equal the count of the whole range, searched again at the end.
    ``date_from`` may be 'inception'. Nothing is written here.
    """
    if not usable_email(settings.email):
        raise ConfigError(
            f"{_describe_email('entrez email', settings.email)}: NCBI requires a real contact address for live searches",
            where="EntrezSettings.email",
            fix=f"export {EMAIL_ENV}=name@your-institution.org or set entrez.email in config/config.yaml",
        )
    mindate = INCEPTION_MINDATE if date_from == INCEPTION else date_from
    dates = {"mindate": mindate, "maxdate": date_to, "datetype": settings.datetype}
    caller = _Caller(settings, sleep)
    with _entrez_session(settings) as with_key:
        LOG.info("PubMed search %s..%s (%s), %s", date_from, date_to, settings.datetype, "API key: 10 requests/s" if with_key else "no API key: 3 requests/s")
        for attempt in range(1, SEARCH_ATTEMPTS + 1):
            try:
                first, collected = _search_once(caller, query, dates, settings, progress_stream)
                break
            except _CountChanged as err:
                if attempt == SEARCH_ATTEMPTS:
                    raise
                LOG.warning("%s; searching again from the start (attempt %d of %d)", err.what.split(":")[0], attempt + 1, SEARCH_ATTEMPTS)
    count = first["count"]
    return SearchResult(
        query=query,
        query_translation=first["translation"],
        mindate=mindate,
        maxdate=date_to,
        datetype=settings.datetype,
        count_reported=count,
        pmids=collected.pmids,
        articles=collected.chunks,
        doctype=collected.doctype,
        requests=caller.requests,
        retries=caller.retries,
        warnings=list(first["messages"]),
        api_key_used=with_key,
        ranges=list(collected.ranges),
        found_twice=collected.found_twice,
    )


class _CountChanged(SearchError):
    """PubMed's count of the search changed while its records were fetched: search again."""


def _count_changed(count: int, count_at_end: int) -> _CountChanged:
    return _CountChanged(
        f"PubMed's count changed during the search ({count} at the start, {count_at_end} at the end): records were added or removed while fetching, "
        f"{SEARCH_ATTEMPTS} times in a row",
        where="esearch",
        fix="run the search again later (nothing was written)",
    )


def _check_split(count: int, count_at_end: int, collected: _Collected) -> None:
    """Stop unless the date ranges together gave exactly the whole range's records, unchanged meanwhile."""
    if count_at_end != count:
        raise _count_changed(count, count_at_end)
    if len(collected.pmids) != count:
        raise SearchError(
            f"the {len(collected.ranges)} date ranges searched gave {len(collected.pmids)} distinct PMIDs but esearch reported {count} for the whole range",
            where="esearch",
            fix="run the search again; if it persists, search with another entrez.datetype (edat gives each record one date) (nothing was written)",
        )


def _check_counts(count: int, last: dict[str, Any], pmids: list[str]) -> None:
    """Stop unless the PMIDs fetched are exactly the esearch result set, and it did not change meanwhile."""
    if last["count"] != count:
        raise _count_changed(count, last["count"])
    missing_pmid = sum(1 for p in pmids if not p)
    if missing_pmid:
        raise SearchError(f"{missing_pmid} fetched record(s) have no PMID", where="efetch", fix="run the search again; nothing was written")
    not_numbers = sorted(p for p in set(pmids) if not re.fullmatch(r"[1-9][0-9]*", p))
    if not_numbers:
        # A PMID is a number: another text would become a record id that later searches do not
        # recognise as archived (archived_pubmed_ids), so the next run would archive it again.
        raise SearchError(
            f"{len(not_numbers)} fetched record(s) have a PMID that is not a number (e.g. {', '.join(repr(p[:40]) for p in not_numbers[:3])})",
            where="efetch",
            fix="run the search again later; if it persists, report it (nothing was written)",
        )
    unique = set(pmids)
    if len(unique) != len(pmids):
        dups = sorted(p for p, n in Counter(pmids).items() if n > 1)
        raise SearchError(
            f"efetch returned duplicate PMIDs ({len(pmids) - len(unique)} extra; e.g. {', '.join(dups[:5])})",
            where="efetch",
            fix="run the search again; nothing was written",
        )
    if len(unique) != count:
        raise SearchError(
            f"fetched {len(unique)} distinct PMIDs but esearch reported {count}",
            where="efetch",
            fix="run the search again; nothing was written",
        )
    if set(last["ids"]) != unique:
        differ = sorted(unique.symmetric_difference(last["ids"]))
        raise SearchError(
            f"the PMIDs fetched differ from esearch's list ({len(differ)} differ, e.g. {', '.join(differ[:5])})",
            where="efetch",
            fix="run the search again; nothing was written",
        )


def merge_articles(chunks: list[bytes], doctype: str) -> bytes:
    """One PubmedArticleSet document holding the given articles in order, each starting on its own line."""
    parts = [b'<?xml version="1.0" encoding="utf-8"?>\n', (doctype or DOCTYPE_FALLBACK).encode("utf-8"), b"\n<PubmedArticleSet>\n"]
    for chunk in chunks:
        parts.append(chunk.strip())
        parts.append(b"\n")
    parts.append(b"</PubmedArticleSet>\n")
    return b"".join(parts)


def tool_versions() -> dict[str, str]:
    """Versions of the tools that made a run (for the manifest)."""
    return {
        "livingreview": __version__,
        "biopython": Bio.__version__,
        "lxml": ".".join(str(x) for x in etree.LXML_VERSION),
        "python": _platform.python_version(),
    }


def archived_pubmed_ids(root: str | os.PathLike[str]) -> dict[str, str]:
    """PMIDs already archived in PubMed files of earlier runs under root, each mapped to the run that archived it
    (runs.archived_record_ids: a record an add-run export lists as already archived counts for its earlier run).

    Records get the id ``pubmed:<PMID>`` and the importer refuses one record id in two runs, so a
    new run keeps out what an earlier run holds (the manifest says how many and where).
    """
    archived = archived_record_ids(root, "pubmed")
    return {rid.split(":", 1)[1]: run for rid, run in archived.items() if rid.split(":", 1)[1].isdigit()}


def build_manifest(
    result: SearchResult,
    *,
    run_id: str,
    date_run: dt.date,
    date_from: str,
    date_to: str,
    count_in_file: int,
    found_again: dict[str, str],
) -> Manifest:
    """The manifest of a PubMed run (no API key, no e-mail address: only whether a key was used).

    ``found_again`` maps the record id of each record PubMed found that an earlier run holds already
    to that run: they are kept out of the file, listed in the file entry's ``found_again`` (so
    ``trace`` shows the search found them again) and counted per run in the notes.
    """
    notes = [
        f"esearch usehistory=y; efetch retmode=xml; datetype={result.datetype}; mindate={result.mindate}; maxdate={result.maxdate}",
        f"{result.requests} request(s), {result.retries} retried; rate limit {'10' if result.api_key_used else '3'} requests/s",
    ]
    if found_again:
        notes.append(f"{len(found_again)} of {result.count_reported} records found are already archived and left out of this file: {archived_by_runs(found_again)}")
    if result.ranges:
        spans = ", ".join(f"{lo}-{hi}: {n}" for lo, hi, n in result.ranges)
        notes.append(
            f"PubMed returns at most {MAX_PER_SEARCH:,} records of one search: searched in {len(result.ranges)} date ranges "
            f"of at most {MAX_PER_SEARCH:,} records each by {result.datetype}, each fetched and checked on its own ({spans} records)"
        )
    if result.found_twice:
        notes.append(f"{result.found_twice} record{'s' if result.found_twice != 1 else ''} found in two date ranges {'are' if result.found_twice != 1 else 'is'} archived once")
    notes += [f"esearch {m}" for m in result.warnings]
    entry = RunFile(
        name=PUBMED_FILE,
        database="pubmed",
        platform=PUBMED_PLATFORM,
        format=PUBMED_FORMAT,
        query=result.query,
        query_translation=result.query_translation,
        date_limits={"from": date_from, "to": date_to, "datetype": result.datetype},
        count_reported=result.count_reported,
        count_in_file=count_in_file,
        notes="; ".join(notes),
        found_again=dict(sorted(found_again.items())),
    )
    return Manifest(
        run_id=run_id,
        date_run=date_run.isoformat(),
        files=[entry],
        tool_versions=tool_versions(),
        description=f"Live PubMed search through Bio.Entrez, {date_from} to {date_to} by {DATETYPE_WORDS.get(result.datetype, result.datetype)}",
    )


@dataclass(frozen=True)
class SearchOutcome:
    """What a live search did: the run folder it archived (None: nothing new, nothing written) and
    its result line for people (the command prints it on stdout)."""

    path: Path | None
    message: str


def run_pubmed_search(
    *,
    config_path: str | os.PathLike[str] = "config/config.yaml",
    root: str | os.PathLike[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    run_id: str | None = None,
    today: dt.date | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress_stream: IO[str] | None = None,
    now: dt.datetime | None = None,
) -> SearchOutcome:
    """Search PubMed live and archive the result as resources/searches/<run_id>/ (pubmed.xml.gz + manifest.json).

    A search without --since uses the date field entrez.datetype names (default edat); an update
    search (--since) always uses the Entrez date (edat, the date a record entered PubMed), so a
    record published before the last run but indexed after it is found. The manifest records the
    date type (date_limits.datetype, notes, description). Records already archived in an earlier
    PubMed run are left out of the new file (the manifest notes how many, per run). Returns the run
    folder, or None when nothing new was found (PubMed reports no records, or all are archived
    already: the result line says which), with the result line: nothing is written then, since an
    empty run adds nothing to the review. Any failure raises SearchError before anything is written; a
    config without a real contact address (NCBI_EMAIL / entrez.email) is a ConfigError raised
    before any request is sent or any folder touched, as is a ``run_id`` that is not a run id
    (YYYY-MM-DD[-N]).
    """
    if run_id is not None and not is_run_id(run_id):
        raise ConfigError(
            f"{run_id!r} is not a run id ({RUN_ID_FORM})",
            where="--run-id",
            fix="give e.g. 2026-01-15 or 2026-01-15-2, or leave --run-id out (today's date)",
        )
    config = load_config(config_path)
    settings = settings_from_config(config, where=str(config_path))
    runs_root = Path(root if root is not None else config.get("searches", {}).get("root", "resources/searches"))
    for stale in clean_partial_runs(runs_root):
        LOG.warning("removed %s, left by an interrupted search or add-run", stale)
    # ``today`` (tests) is both the run date and the default end date; otherwise the run is dated
    # by the local clock and the search ends today at NCBI (ncbi_today), never on a later day.
    search_day = today or ncbi_today(now)
    today = today or (now.astimezone() if now is not None else dt.datetime.now().astimezone()).date()
    query = pubmed_strategy(config)
    date_from, date_to = resolve_date_limits(config, since=since, until=until, root=runs_root, today=search_day)
    if since is not None and settings.datetype != UPDATE_DATETYPE:
        LOG.info("update search (--since): dates are %s, not entrez.datetype %s", DATETYPE_WORDS[UPDATE_DATETYPE], settings.datetype)
    if since is not None:
        settings = replace(settings, datetype=UPDATE_DATETYPE)
    run_id = run_id if run_id is not None else next_run_id(runs_root, today.isoformat())
    if (runs_root / run_id).exists():
        raise ArchiveError(f"run {run_id} already exists (runs are immutable)", where=str(runs_root / run_id), fix="pass another --run-id or leave it out")
    check_run_comes_last(runs_root, run_id, fix="leave --run-id out (today's date) or give one after the newest run's")
    known_runs = {d.name for d in list_runs(runs_root)}
    archived = archived_pubmed_ids(runs_root)
    result = search_pubmed(query, date_from=date_from, date_to=date_to, settings=settings, sleep=sleep, progress_stream=progress_stream)
    keep = [i for i, pmid in enumerate(result.pmids) if pmid not in archived]
    found_again = {f"pubmed:{pmid}": archived[pmid] for pmid in result.pmids if pmid in archived}
    span = f"{date_from}..{date_to} ({settings.datetype})"
    left_out = (
        f"{len(found_again)} already archived in {archived_by_runs(found_again)}"
        if found_again else ""
    )
    if not result.pmids:
        return SearchOutcome(None, f"no new records: PubMed found nothing for {span}; no run was written")
    if not keep:
        return SearchOutcome(None, f"no new records: PubMed found {len(result.pmids)} for {span}, all {left_out}; no run was written")
    manifest = build_manifest(
        result,
        run_id=run_id,
        date_run=today,
        date_from=date_from,
        date_to=date_to,
        count_in_file=len(keep),
        found_again=found_again,
    )
    xml = merge_articles([result.articles[i] for i in keep], result.doctype)
    data = gzip.compress(xml, compresslevel=9, mtime=0)
    kept_ids = {f"pubmed:{result.pmids[i]}" for i in keep}
    path = write_run(
        runs_root,
        manifest,
        {PUBMED_FILE: data},
        recheck=lambda: check_none_archived_since(runs_root, "pubmed", known_runs, kept_ids, what="this search"),
    )
    return SearchOutcome(path, f"archived PubMed run: {path} ({len(keep)} new record{'' if len(keep) == 1 else 's'} of {len(result.pmids)} found for {span}" + (f"; {left_out}, left out)" if left_out else ")"))
