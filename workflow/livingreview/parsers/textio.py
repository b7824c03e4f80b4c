"""Opening export files: transparent gzip, and text encoding detection (UTF-8, UTF-8 with BOM, cp1252, latin-1)."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import IO

from ..errors import InputFormatError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
# Names recorded in records.tsv's ``encoding`` column (Python codec names).
ENCODING_UTF8 = "utf-8"
ENCODING_UTF8_BOM = "utf-8-sig"
ENCODING_CP1252 = "cp1252"
ENCODING_LATIN1 = "latin-1"
_CHUNK = 1 << 20


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


def _check_decodes(path: str | os.PathLike[str], encoding: str) -> bool:
    """Decode the whole (decompressed) file incrementally; False on the first undecodable byte."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open_binary(path) as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    except (EOFError, OSError, zlib.error) as err:
        raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export or re-download the file (it looks truncated or corrupt)") from None
    return True


def detect_encoding(path: str | os.PathLike[str]) -> str:
    """Return the encoding a text export is written in.

    UTF-8 with a byte-order mark gives ``utf-8-sig``; valid UTF-8 gives ``utf-8``; otherwise
    Windows-1252 (``cp1252``, what Excel and many reference managers write on Windows) when every
    byte is defined there, else ``latin-1`` (which decodes any byte).
    """
    with open_binary(path) as fh:
        try:
            head = fh.read(3)
        except (EOFError, OSError, zlib.error) as err:
            raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export the file") from None
    if head.startswith(UTF8_BOM):
        return ENCODING_UTF8_BOM if _check_decodes(path, ENCODING_UTF8_BOM) else ENCODING_CP1252
    if _check_decodes(path, ENCODING_UTF8):
        return ENCODING_UTF8
    if _check_decodes(path, ENCODING_CP1252):
        return ENCODING_CP1252
    return ENCODING_LATIN1


def open_text(path: str | os.PathLike[str], encoding: str | None = None) -> tuple[IO[str], str]:
    """Open a text export (gzip allowed) with universal newlines; returns (stream, encoding used)."""
    enc = encoding or detect_encoding(path)
    stream = io.TextIOWrapper(open_binary(path), encoding=enc, errors="strict", newline=None)
    return stream, enc


def read_head(path: str | os.PathLike[str], n_bytes: int = 65536) -> str:
    """The first bytes of the (decompressed) file as text, for format detection (lenient decoding)."""
    with open_binary(path) as fh:
        try:
            data = fh.read(n_bytes)
        except (EOFError, OSError, zlib.error) as err:
            raise InputFormatError(f"cannot read the file ({err})", where=str(path), fix="re-export the file") from None
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start >= len(data) - 3:  # a multi-byte character cut by the read limit
            return data[: err.start].decode("utf-8", errors="replace")
        return data.decode("cp1252", errors="replace")
