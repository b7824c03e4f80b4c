"""Opening export files: transparent gzip, and text encoding detection (UTF-8, UTF-8 with BOM, cp1252, latin-1)."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ..errors import InputFormatError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
# Byte-order marks of the encodings that are not read (longest first: UTF-32 LE starts like UTF-16 LE).
WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
)
_SAVE_AS_UTF8 = (
    "export or save the file again as UTF-8 (Excel: 'CSV UTF-8'; EndNote/Zotero/Ovid: output encoding UTF-8); "
    "livingreview reads UTF-8, UTF-8 with BOM, cp1252 and latin-1"
)
# Names recorded in records.tsv's ``encoding`` column (Python codec names).
ENCODING_UTF8 = "utf-8"
ENCODING_UTF8_BOM = "utf-8-sig"
ENCODING_CP1252 = "cp1252"
ENCODING_LATIN1 = "latin-1"
_CHUNK = 1 << 20
# The longest line (in characters, without its newline) a text export (RIS, MEDLINE, CSV) may hold:
# 10,000,000, as libxml2 bounds one text node of PubMed XML (XML_MAX_TEXT_LENGTH). A real record's
# longest field (an abstract) is a few thousand; without a bound one line is read whole into memory,
# so a gzip file of a few MB holding one line of GBs would exhaust it.
MAX_LINE_CHARS = 10_000_000


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_binary(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a file for reading bytes, decompressing gzip transparently."""
    p = Path(path)
    if not p.exists():
        raise InputFormatError("file not found", where=str(p), fix="check the path")
    if is_gzip(p):
        return gzip.open(p, "rb")
    return open(p, "rb")


def check_wide_encoding(head: bytes, name: str) -> None:
    """Raise InputFormatError when ``head`` (the first bytes of a file) starts with a UTF-16 or UTF-32
    byte-order mark: read byte by byte, every other character would be a NUL and no tag, column or
    record would be found (Excel's 'Unicode Text' and some reference managers write UTF-16)."""
    for bom, label in WIDE_BOMS:
        if head.startswith(bom):
            raise InputFormatError(
                f"the file is {label} (it starts with the byte-order mark {bom.hex(' ').upper()}), an encoding that is not read",
                where=f"{name}:1",
                fix=_SAVE_AS_UTF8,
            )


def _nul_error(name: str, offset: int, line: int, gz: bool) -> InputFormatError:
    """The error for a NUL byte in a text export."""
    return InputFormatError(
        f"byte 0x00 (NUL) at byte offset {offset}{' of the decompressed data' if gz else ''}: a text export holds no NUL byte, "
        "so the file is damaged, binary or UTF-16 without a byte-order mark (its text would be read wrongly)",
        where=f"{name}:{line}",
        fix=_SAVE_AS_UTF8,
    )


def _check_decodes(path: str | os.PathLike[str], encoding: str, *, name: str | None = None) -> bool:
    """Decode the whole (decompressed) file incrementally; False on the first undecodable byte.

    A NUL byte raises InputFormatError naming ``name`` (default: the path) and its line.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    consumed = lines = 0
    try:
        with open_binary(path) as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                nul = chunk.find(b"\x00")
                if nul >= 0:
                    raise _nul_error(name or str(path), consumed + nul, lines + chunk.count(b"\n", 0, nul) + 1, is_gzip(path))
                consumed += len(chunk)
                lines += chunk.count(b"\n")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    except (EOFError, OSError, zlib.error) as err:
        raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export or re-download the file (it looks truncated or corrupt)") from None
    return True


def _utf8_damage(path: str | os.PathLike[str]) -> tuple[int, int, int, int, int]:
    """How a file that is not valid UTF-8 breaks it: (valid multi-byte characters, invalid bytes,
    byte offset of the first invalid byte, its line (1-based), its value).

    Decodes with ``surrogateescape`` so each byte that is not UTF-8 becomes one lone surrogate;
    only called when the strict UTF-8 check has failed.
    """
    decoder = codecs.getincrementaldecoder(ENCODING_UTF8)(errors="surrogateescape")
    valid = invalid = 0
    first_offset = first_line = first_byte = -1
    consumed = lines = 0
    with open_binary(path) as fh:
        while True:
            try:
                chunk = fh.read(_CHUNK)
            except (EOFError, OSError, zlib.error) as err:
                raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export or re-download the file (it looks truncated or corrupt)") from None
            text = decoder.decode(chunk, final=not chunk)
            bad = len(_INVALID_RE.findall(text))
            valid += len(_MULTIBYTE_RE.findall(text))
            if bad and first_offset < 0:
                i = _INVALID_RE.search(text).start()  # type: ignore[union-attr]
                before = text[:i]
                first_offset = consumed + len(before.encode(ENCODING_UTF8, "surrogateescape"))
                first_line = lines + before.count("\n") + 1
                first_byte = ord(text[i]) - 0xDC00
            invalid += bad
            consumed += len(text.encode(ENCODING_UTF8, "surrogateescape"))
            lines += text.count("\n")
            if not chunk:
                break
    return valid, invalid, first_offset, first_line, first_byte


_INVALID_RE = re.compile("[\udc80-\udcff]")
_MULTIBYTE_RE = re.compile("[^\x00-\x7f\udc80-\udcff]")


def detect_encoding(path: str | os.PathLike[str], *, name: str | None = None) -> str:
    """Return the encoding a text export is written in.

    UTF-8 with a byte-order mark gives ``utf-8-sig``; valid UTF-8 gives ``utf-8``; otherwise
    Windows-1252 (``cp1252``, what Excel and many reference managers write on Windows) when every
    byte is defined there, else ``latin-1`` (which decodes any byte).

    A file that is meant to be UTF-8 but holds a byte that is not (it starts with the UTF-8 BOM, or
    it holds at least as many valid multi-byte UTF-8 characters as invalid bytes) raises
    InputFormatError naming ``name`` (default: the path), the line and byte offset of the first
    bad byte: read as cp1252 every accented character of it would be garbled ("SchÃ¶nenberg").
    """
    with open_binary(path) as fh:
        try:
            head = fh.read(4)
        except (EOFError, OSError, zlib.error) as err:
            raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export the file") from None
    check_wide_encoding(head, name or str(path))
    has_bom = head.startswith(UTF8_BOM)
    if _check_decodes(path, ENCODING_UTF8_BOM if has_bom else ENCODING_UTF8, name=name):
        return ENCODING_UTF8_BOM if has_bom else ENCODING_UTF8
    valid, invalid, offset, line, byte = _utf8_damage(path)
    if has_bom or valid >= invalid:
        why = "starts with the UTF-8 byte-order mark" if has_bom else f"holds {valid} valid multi-byte UTF-8 characters"
        raise InputFormatError(
            f"byte 0x{byte:02x} at byte offset {offset}{' of the decompressed data' if is_gzip(path) else ''} is not valid UTF-8, but the file {why} "
            f"({invalid} invalid byte{'s' if invalid != 1 else ''} in all); it is not read as cp1252, which would garble every accented character",
            where=f"{name or path}:{line}",
            fix="re-export the file as UTF-8 from the database or reference manager (or remove the stray byte)",
        )
    if _check_decodes(path, ENCODING_CP1252, name=name):
        return ENCODING_CP1252
    return ENCODING_LATIN1


def open_text(path: str | os.PathLike[str], encoding: str | None = None, *, name: str | None = None) -> tuple[IO[str], str]:
    """Open a text export (gzip allowed) with universal newlines; returns (stream, encoding used).

    ``name`` is how errors name the file (default: the path).
    """
    enc = encoding or detect_encoding(path, name=name)
    stream = io.TextIOWrapper(open_binary(path), encoding=enc, errors="strict", newline=None)
    return stream, enc


def bounded_lines(stream: IO[str], name: str, *, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Yield the lines of a text stream (each with its newline) as iterating the stream would, but read
    each line at most ``limit`` + 1 characters at a time: a line longer than ``limit`` characters (its
    newline not counted) raises InputFormatError naming ``name``, the line and its length, measured by
    reading the rest of it in bounded pieces (never the whole line in memory).
    """
    readline = stream.readline
    size = limit + 1
    lineno = 0
    while line := readline(size):
        lineno += 1
        if len(line) == size and line[-1] != "\n":
            length = size
            while (rest := readline(_CHUNK)) and rest[-1] != "\n":
                length += len(rest)
            length += len(rest.rstrip("\n"))
            raise too_long(
                f"line {lineno} is {length:,} characters long, more than the {limit:,} a line of a text export may hold "
                "(no field of a real record is that long: the file is damaged, not a text export, or built to exhaust memory)",
                where=f"{name}:{lineno}",
            )
        yield line


def too_long(message: str, *, where: str) -> InputFormatError:
    """The error for a line, field or row of a text export past MAX_LINE_CHARS, with its one fix."""
    return InputFormatError(
        message,
        where=where,
        fix="export the records again from the database or reference manager and archive that file; do not edit an export by hand",
    )


class Continued:
    """The value a field's continuation lines extend (RIS wrapped text, MEDLINE indented lines), joined
    once when the field ends: adding each line to the text so far copies the whole field every time,
    which takes time growing with the square of its length (a 40 MB field of 100-character lines:
    minutes). A field longer than ``limit`` characters, the limit on one line, raises InputFormatError
    naming the file and the line that crossed it."""

    def __init__(self, name: str, *, limit: int = MAX_LINE_CHARS) -> None:
        self.name, self.limit = name, limit
        self.values: list[str] | None = None  # the field's values; the last one is being continued
        self.pieces: list[str] = []
        self.size = 0

    def add(self, values: list[str], piece: str, *, line: int, tag: str) -> None:
        """Continue the last of ``values`` (a field's values, tag ``tag``) with ``piece`` (line ``line``)."""
        if self.values is None:
            self.values, self.pieces, self.size = values, [values[-1]], len(values[-1])
        self.pieces.append(piece)
        self.size += 1 + len(piece)
        if self.size > self.limit:
            raise too_long(
                f"field {tag} is longer than the {self.limit:,} characters a field of a text export may hold, "
                "over many continuation lines (no field of a real record is that long: the file is damaged or built to exhaust memory)",
                where=f"{self.name}:{line}",
            )

    def close(self, join: Callable[[list[str]], str]) -> None:
        """Write the continued value back into its field, joined by ``join`` (call when the field ends)."""
        if self.values is not None:
            self.values[-1] = join(self.pieces)
            self.values, self.pieces = None, []


def read_head(path: str | os.PathLike[str], n_bytes: int = 65536) -> str:
    """The first bytes of the (decompressed) file as text, for format detection (lenient decoding)."""
    with open_binary(path) as fh:
        try:
            data = fh.read(n_bytes)
        except (EOFError, OSError, zlib.error) as err:
            raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export the file") from None
    check_wide_encoding(data, str(path))
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start >= len(data) - 3:  # a multi-byte character cut by the read limit
            return data[: err.start].decode("utf-8", errors="replace")
        return data.decode("cp1252", errors="replace")
