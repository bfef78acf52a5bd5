"""Streaming readers: from a file's bytes to raw records with line numbers.

An export is read once, front to back, in bounded memory:

1. **Refused up front**: a file larger than the size limit (1 GiB by
   default), an empty file, or a binary one (a NUL byte in its first 8 KiB).
2. **Lines**: bytes are split at ``\\n`` and each line is decoded with the
   rules' encoding.  Every export encoding we accept (UTF-8, cp1252, Latin-1)
   keeps ``\\n`` a single byte, so splitting before decoding is safe, and a
   decoding error can be reported with its line, column and byte offset.  The
   usual mix-ups are named: Latin-1 bytes read as UTF-8 fail to decode, and
   UTF-8 read as cp1252 shows as mojibake (``JoÃ£o``): a non-ASCII line that
   is also valid UTF-8 is reported as "looks like UTF-8".
3. **Records**: CSV lines go through :mod:`csv` (which joins quoted fields
   that span lines); JSON Lines are one object a line; a JSON array is
   decoded one element at a time.  Each record is *projected* onto the fields
   the rules need (``Rules.fields_needed``), by header name or key, so extra
   and reordered columns do not matter and a missing column is reported once,
   at the header.

The reader yields :class:`Record` values and :class:`Problem` values.  A
problem with ``fatal=True`` ends the file (nothing after it can be trusted).
The file's SHA-256 is computed from the same bytes as they stream by and is
available as :attr:`SourceReader.sha256` once iteration has finished.

Lines count from 1 (the header of a CSV is line 1); columns are characters,
from 1.  A record's ``text`` is exactly what the file held (decoded), so a
reject file can reproduce the bad rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from operator import itemgetter
from pathlib import Path

from mutualcredit.domain import codes
from mutualcredit.imports.rules import Rules

SIZE_LIMIT_DEFAULT = 1024**3  # bytes
LINE_LENGTH_MAX = 1024**2  # bytes; a longer line is not an export row
JSON_RECORD_LENGTH_MAX = 1024**2  # characters of one element of a JSON array
BINARY_PROBE_SIZE = 8192  # bytes inspected for NUL before reading
READ_BUFFER_SIZE = 1024**2  # bytes
DECODE_BLOCK_SIZE = 256 * 1024  # bytes decoded at once (whole lines); below LINE_LENGTH_MAX


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with an input, located as ``FILE:LINE:COLUMN: message``.

    ``code`` is stable (for JSON output and docs); ``text`` is the raw record
    for a reject file ("" for problems of the whole file); ``fatal`` means the
    file cannot be imported at all.  One record may have several problems:
    they share ``line`` and ``text``.
    """

    file: str
    line: int
    column: int
    message: str
    code: str
    text: str = ""
    fatal: bool = False

    def __post_init__(self) -> None:
        assert self.code in codes.BY_NAME, f"problem {self.code!r} is not in domain/codes.py"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


Locator = Callable[[str, int], int]


@dataclass(slots=True)
class Record:
    """A row of an export, projected onto ``Rules.fields_needed``.

    ``values[i]`` is the text of ``fields_needed[i]``; ``None`` when a JSON
    object lacks the key.  ``locator`` finds where a field starts in ``text``
    and is only called when something is wrong.  Not frozen only because a
    frozen dataclass costs twice as much to create, a million times per file;
    nothing changes a record once read.
    """

    line: int
    column: int
    text: str
    values: tuple[str | None, ...]
    locator: Locator

    def position(self, index: int) -> tuple[int, int]:
        """Line and column where field ``index`` (of ``fields_needed``) starts."""
        offset = self.locator(self.text, index)
        newlines = self.text.count("\n", 0, offset)
        if newlines == 0:
            return self.line, self.column + offset
        return self.line + newlines, offset - self.text.rfind("\n", 0, offset)


def _shorten(text: str, length: int = 40) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


class _HashingFile(io.RawIOBase):
    """A raw file that feeds every byte it reads into SHA-256, chunk by chunk."""

    def __init__(self, raw: io.FileIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._raw.readinto(buffer) or 0
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class SourceReader:
    """Iterate over the records of one export file; see the module docstring.

    ``SourceReader(path, rules)`` is iterable once.  After iteration,
    ``sha256`` (hex) is the digest of the whole file (``None`` if it was
    refused before reading), and ``lines_read`` the number of lines seen.
    """

    def __init__(
        self, path: str | Path, rules: Rules, *, size_limit: int = SIZE_LIMIT_DEFAULT
    ) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.rules = rules
        self.size_limit = size_limit
        self.sha256: str | None = None
        self.lines_read = 0
        self._pending: list[Problem] = []  # decoding problems not yet tied to a record
        self._collected: list[str] = []  # lines of the record being read
        self._stopped: Problem | None = None  # a fatal problem met while reading lines

    # -- the whole file --------------------------------------------------------

    def __iter__(self) -> Iterator[Record | Problem]:
        refusal = self._refusal()
        if refusal is not None:
            yield refusal
            return
        with open(self.path, "rb", buffering=0) as raw:
            hashing = _HashingFile(raw)
            binary = io.BufferedReader(hashing, buffer_size=READ_BUFFER_SIZE)
            lines = self._decode_lines(binary, collect=self.rules.format == "csv")
            records = {"csv": self._csv_records, "jsonl": self._jsonl_records}.get(
                self.rules.format, self._json_records
            )
            yield from records(lines)
            if self._stopped is not None:
                yield self._stopped
            while binary.read(READ_BUFFER_SIZE):  # hash what a fatal problem left unread
                pass
            self.sha256 = hashing.digest.hexdigest()

    def _problem(
        self,
        line: int,
        column: int,
        message: str,
        code: str,
        *,
        text: str = "",
        fatal: bool = False,
    ) -> Problem:
        return Problem(
            file=self.name, line=line, column=column, message=message, code=code, text=text,
            fatal=fatal,
        )  # fmt: skip

    def _refusal(self) -> Problem | None:
        """Problems that refuse the file before a line is read."""
        try:
            size = os.stat(self.path).st_size
            with open(self.path, "rb") as handle:
                head = handle.read(BINARY_PROBE_SIZE)
        except OSError as error:
            return self._problem(
                1, 1, f"cannot read the file: {error.strerror}", "file_unreadable", fatal=True
            )
        if size > self.size_limit:
            return self._problem(
                1,
                1,
                f"the file is {size} bytes; the limit is {self.size_limit} bytes",
                "file_too_large",
                fatal=True,
            )
        if size == 0:
            return self._problem(1, 1, "the file is empty", "file_empty", fatal=True)
        nul = head.find(b"\x00")
        if nul >= 0:
            line = head.count(b"\n", 0, nul) + 1
            column = nul - (head.rfind(b"\n", 0, nul) + 1) + 1
            return self._problem(
                line,
                column,
                f"the file looks binary (a NUL byte at byte {nul}); expected text in "
                f"{self.rules.encoding}",
                "file_binary",
                fatal=True,
            )
        return None

    # -- lines -----------------------------------------------------------------

    def _decode_lines(self, binary: io.BufferedIOBase, *, collect: bool) -> Iterator[str]:
        """Yield decoded lines; remember decoding problems in ``_pending``.

        The file is decoded a block of whole lines at a time: a block that is
        ASCII, or valid UTF-8 where the rules say UTF-8, and holds no NUL,
        decodes in one call.  Any other block, and the first line (which may
        carry a byte-order mark), goes line by line through
        :meth:`_decode_line`.  A line that cannot be decoded is still yielded
        (with U+FFFD in place of the bad bytes) so that the record it belongs
        to keeps its shape; the record is then rejected with the decoding
        problem instead.
        """
        collected = self._collected
        utf8 = self.rules.encoding.startswith("utf-8")
        number = 0  # lines yielded
        offset = 0  # bytes before the block, for messages
        rest = b""  # a line begun in the previous block
        careful = True  # the first line always goes line by line
        while True:
            block = binary.read(DECODE_BLOCK_SIZE)
            data = rest + block if rest else block
            if careful and data:
                end = data.find(b"\n") + 1
            elif block:
                end = data.rfind(b"\n") + 1
            else:
                end = len(data)  # the last line, without its newline
            if not end:
                if not block:
                    end = len(data)
                elif len(data) > LINE_LENGTH_MAX:
                    self._stopped = self._too_long(number + 1)
                    return
                else:
                    rest = data
                    continue
            if not data:
                return
            lines, rest = data[:end], data[end:]
            text = None
            if (
                not careful
                and b"\x00" not in lines
                and (
                    len(lines) <= LINE_LENGTH_MAX
                    or max(map(len, lines.split(b"\n"))) <= LINE_LENGTH_MAX
                )
            ):
                if lines.isascii():
                    text = lines.decode("ascii")
                elif utf8:
                    try:
                        text = lines.decode("utf-8")
                    except UnicodeDecodeError:
                        pass
            careful = False
            if text is not None:
                decoded = text.split("\n")
                last = decoded.pop()
                for line in decoded:
                    number += 1
                    self.lines_read = number
                    line += "\n"
                    if collect:  # only CSV needs the lines of a record gathered
                        collected.append(line)
                    yield line
                if last:
                    number += 1
                    self.lines_read = number
                    if collect:
                        collected.append(last)
                    yield last
            else:
                position = 0
                while position < len(lines):
                    cut = lines.find(b"\n", position) + 1 or len(lines)
                    raw = lines[position:cut]
                    number += 1
                    if len(raw) - raw.endswith(b"\n") > LINE_LENGTH_MAX:
                        self._stopped = self._too_long(number)
                        return
                    self.lines_read = number
                    if raw.isascii() and b"\x00" not in raw:
                        line = raw.decode("ascii")
                    else:
                        line = self._decode_line(raw, number, offset + position)
                    position = cut
                    if collect:
                        collected.append(line)
                    yield line
            offset += end
            if len(rest) > LINE_LENGTH_MAX and b"\n" not in rest:
                self._stopped = self._too_long(number + 1)
                return

    def _too_long(self, number: int) -> Problem:
        self.lines_read = number
        return self._problem(
            number,
            1,
            f"the line is longer than {LINE_LENGTH_MAX} bytes",
            "line_too_long",
            fatal=True,
        )

    def _decode_line(self, raw: bytes, number: int, offset: int) -> str:
        """The slow path: non-ASCII bytes, a byte-order mark, or a NUL."""
        encoding = self.rules.encoding
        if number == 1 and raw.startswith(b"\xef\xbb\xbf") and encoding.startswith("utf-8"):
            if encoding == "utf-8-sig":
                raw = raw[3:]
            else:
                self._note(
                    1,
                    1,
                    "the file starts with a UTF-8 byte-order mark; set "
                    'encoding = "utf-8-sig" in the rules',
                    "encoding_bom",
                    "",
                )
        nul = raw.find(b"\x00")
        if nul >= 0:
            text = raw.decode(encoding, "replace")
            column = len(raw[:nul].decode(encoding, "replace")) + 1
            self._note(
                number,
                column,
                f"a NUL byte at byte {offset + nul}; this is not text",
                "binary_byte",
                text,
            )
            return text
        codec = "utf-8" if encoding.startswith("utf-8") else encoding
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as error:
            text = raw.decode(codec, "replace")
            column = len(raw[: error.start].decode(codec, "replace")) + 1
            hint = (
                "; the file may be cp1252/latin-1: set encoding in the rules"
                if codec == "utf-8"
                else "; the file may be UTF-8: set encoding in the rules"
            )
            self._note(
                number,
                column,
                f"byte 0x{raw[error.start]:02X} at byte {offset + error.start} of the file is "
                f"not valid {encoding}{hint}",
                "encoding",
                text,
            )
            return text
        if codec != "utf-8":
            self._check_mojibake(raw, text, number)
        return text

    def _check_mojibake(self, raw: bytes, text: str, number: int) -> None:
        """Non-ASCII bytes that also decode as UTF-8 are almost surely UTF-8.

        In cp1252 text, an accented letter is one byte followed by ASCII; it
        is very rare for it to form a valid UTF-8 sequence.  UTF-8 read as
        cp1252 shows as ``Ã©``-style pairs, which a person would call mojibake.
        """
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return
        first = next(index for index, char in enumerate(text) if ord(char) > 127)
        sample = _shorten(text[max(0, first - 10) : first + 20].strip(), 30)
        self._note(
            number,
            first + 1,
            f"the text looks like UTF-8 read as {self.rules.encoding} ({sample!r}); "
            'set encoding = "utf-8" in the rules',
            "encoding",
            text,
        )

    def _note(self, line: int, column: int, message: str, code: str, text: str) -> None:
        self._pending.append(self._problem(line, column, message, code, text=text))

    def _take_pending(self, last_line: int, text: str) -> list[Problem]:
        """The decoding problems of lines up to ``last_line``, bound to the record's text."""
        taken = [problem for problem in self._pending if problem.line <= last_line]
        self._pending = [problem for problem in self._pending if problem.line > last_line]
        return [_with_text(problem, text) for problem in taken]

    # -- CSV -------------------------------------------------------------------

    def _csv_records(self, lines: Iterator[str]) -> Iterator[Record | Problem]:
        rules = self.rules
        reader = csv.reader(
            lines,
            delimiter=rules.delimiter,
            quotechar=rules.quotechar,
            quoting=csv.QUOTE_NONE if rules.quoting_none else csv.QUOTE_MINIMAL,
            strict=True,
        )
        header, problems = self._csv_header(reader)
        yield from problems
        if header is None:
            return
        width, project, locator = header
        collected = self._collected
        rows = 0
        while True:
            first = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                text = "".join(collected)
                collected.clear()
                yield from self._take_pending(reader.line_num, text)
                yield self._problem(
                    reader.line_num, 1, f"cannot read the row: {error}", "csv_syntax", text=text
                )
                continue
            text = collected[0] if len(collected) == 1 else "".join(collected)
            collected.clear()
            if not row:
                continue  # a blank line
            rows += 1
            if self._pending:
                pending = self._take_pending(reader.line_num, text)
                if pending:
                    yield from pending
                    continue
            if len(row) != width:
                yield self._row_width_problem(first, text, row, width)
                continue
            yield Record(first, 1, text, project(row), locator)
        if rows == 0 and self._stopped is None:
            yield self._problem(
                reader.line_num + 1, 1, "the file has a header but no rows", "no_rows", fatal=True
            )

    def _csv_header(
        self, reader: Iterator[list[str]]
    ) -> tuple[tuple[int, Callable[[list[str]], tuple[str, ...]], Locator] | None, list[Problem]]:
        """Read the header; map each needed field to its column by name."""
        collected = self._collected
        try:
            names: list[str] = []
            while not names:
                names = next(reader)
        except StopIteration:
            return None, (
                []
                if self._stopped
                else [self._problem(1, 1, "the file has no header", "file_empty", fatal=True)]
            )
        except csv.Error as error:
            return None, [
                self._problem(1, 1, f"cannot read the header: {error}", "csv_syntax", fatal=True)
            ]
        text = "".join(collected)
        collected.clear()
        line = getattr(reader, "line_num", 1)
        pending = self._take_pending(line, text)
        if pending:
            return None, [replace(problem, fatal=True) for problem in pending]
        stripped = [name.strip() for name in names]
        indexes, problems = [], []
        for field in self.rules.fields_needed:
            found = [index for index, name in enumerate(stripped) if name == field]
            if not found:
                problems.append(
                    self._problem(
                        line,
                        1,
                        f"column {field!r} is not in the header; the header has "
                        f"{', '.join(repr(name) for name in stripped)}",
                        "missing_column",
                        text=text,
                        fatal=True,
                    )
                )
            elif len(found) > 1:
                problems.append(
                    self._problem(
                        line,
                        1,
                        f"column {field!r} appears {len(found)} times in the header",
                        "duplicate_column",
                        text=text,
                        fatal=True,
                    )
                )
            else:
                indexes.append(found[0])
        if problems:
            return None, problems
        return (len(names), itemgetter(*indexes), self._csv_locator(indexes)), []

    def _csv_locator(self, indexes: list[int]) -> Locator:
        delimiter, quotechar = self.rules.delimiter, self.rules.quotechar
        quoting = not self.rules.quoting_none

        def locate(text: str, index: int) -> int:
            return _csv_field_offsets(text, delimiter, quotechar, quoting)[indexes[index]]

        return locate

    def _row_width_problem(self, line: int, text: str, row: list[str], width: int) -> Problem:
        offsets = _csv_field_offsets(
            text, self.rules.delimiter, self.rules.quotechar, not self.rules.quoting_none
        )
        if len(row) < width:
            end = len(text.rstrip("\r\n"))
            message = (
                f"the row has {len(row)} fields but the header has {width}; is the row cut short?"
            )
            return self._problem(line, end + 1, message, "row_too_short", text=text)
        column = offsets[width]  # just after the first delimiter too many
        message = (
            f"the row has {len(row)} fields but the header has {width}; "
            f"an extra {self.rules.delimiter!r}?"
        )
        return self._problem(line, column, message, "row_too_long", text=text)

    # -- JSON Lines and JSON arrays ----------------------------------------------

    def _json_decoder(self) -> json.JSONDecoder:
        # Numbers stay text: money never passes through float.
        return json.JSONDecoder(parse_float=str, parse_int=str)

    def _jsonl_records(self, lines: Iterator[str]) -> Iterator[Record | Problem]:
        decode = self._json_decoder().decode
        locator = self._json_locator()
        records = 0
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            records += 1
            if self._pending:
                pending = self._take_pending(number, text)
                if pending:
                    yield from pending
                    continue
            try:
                item = decode(text)
            except json.JSONDecodeError as error:
                # Measured on the line without its end, so "missing '}'" points past the text.
                column = min(error.pos, len(text.rstrip("\r\n"))) + 1
                yield self._problem(
                    number, column, f"invalid JSON: {error.msg}", "json_syntax", text=text
                )
                continue
            except RecursionError:
                yield self._problem(
                    number, 1, "invalid JSON: nested too deeply", "json_syntax", text=text
                )
                continue
            yield self._json_record(item, number, 1, text, locator)
        if records == 0 and self._stopped is None:
            yield self._problem(1, 1, "the file has no records", "no_rows", fatal=True)

    def _json_record(
        self, item: object, line: int, column: int, text: str, locator: Locator
    ) -> Record | Problem:
        if not isinstance(item, dict):
            kind = _json_kind(item)
            return self._problem(
                line, column, f"expected a JSON object, found {kind}", "json_not_object", text=text
            )
        values = tuple(item.get(key) for key in self.rules.fields_needed)
        record = Record(line, column, text, values, locator)
        for index, value in enumerate(values):
            if value is not None and value.__class__ is not str:
                key = self.rules.fields_needed[index]
                line_at, column_at = record.position(index)
                return self._problem(
                    line_at,
                    column_at,
                    f"{key!r} is {_json_kind(value)}; expected a string or a number",
                    "json_value_type",
                    text=text,
                )
        return record

    def _json_locator(self) -> Locator:
        keys = [json.dumps(key, ensure_ascii=False) for key in self.rules.fields_needed]

        def locate(text: str, index: int) -> int:
            """Where the value of key ``index`` starts, or 0 if the key is absent."""
            start = text.find(keys[index])
            if start < 0:
                return 0
            colon = text.find(":", start + len(keys[index]))
            value = colon + 1
            while value < len(text) and text[value] in " \t\r\n":
                value += 1
            return value

        return locate

    def _json_records(self, lines: Iterator[str]) -> Iterator[Record | Problem]:
        """A JSON array of objects, decoded one element at a time."""
        stream = _JsonArrayStream(lines, self._json_decoder())
        locator = self._json_locator()
        records = 0
        try:
            for line, column, text, item in stream:
                records += 1
                pending = self._take_pending(line + text.count("\n"), text)
                if pending:
                    yield from pending
                    continue
                yield self._json_record(item, line, column, text, locator)
        except _JsonStreamError as error:
            pending = self._take_pending(error.line, "")
            yield from (replace(problem, fatal=True) for problem in pending)
            if not pending:
                yield self._problem(
                    error.line, error.column, error.message, "json_syntax", fatal=True
                )
            return
        if records == 0 and self._stopped is None:
            yield self._problem(1, 1, "the file has no records", "no_rows", fatal=True)


def _with_text(problem: Problem, text: str) -> Problem:
    return replace(problem, text=text)


def _csv_field_offsets(text: str, delimiter: str, quotechar: str, quoting: bool) -> list[int]:
    """Character offsets where each field of a CSV record starts (quotes respected)."""
    offsets = [0]
    quoted = False
    for index, char in enumerate(text):
        if quoting and char == quotechar:
            quoted = not quoted  # a doubled quote toggles twice: still right
        elif char == delimiter and not quoted:
            offsets.append(index + 1)
    return offsets


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string or number"


class _JsonStreamError(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


class _JsonArrayStream:
    """Decode ``[ {...}, {...} ]`` element by element from a stream of lines.

    The buffer holds at most one element plus one line; its first character
    is at ``line``/``column`` of the file.  An element that does not decode is
    retried with more text until it does, the input ends, or it passes
    :data:`JSON_RECORD_LENGTH_MAX`; after a syntax error nothing can be
    trusted, so the first error ends the file.
    """

    def __init__(self, lines: Iterator[str], decoder: json.JSONDecoder) -> None:
        self._lines = lines
        self._decode = decoder.raw_decode
        self._buffer = ""
        self._line = 1
        self._column = 1
        self._ended = False

    def _fill(self) -> bool:
        text = next(self._lines, None)
        if text is None:
            self._ended = True
            return False
        self._buffer += text
        return True

    def _skip_space(self) -> str:
        """Drop whitespace; return the next character ("" at the end of input)."""
        while True:
            stripped = self._buffer.lstrip(" \t\r\n")
            self._advance(len(self._buffer) - len(stripped))
            if stripped or not self._fill():
                return stripped[:1]

    def _advance(self, count: int) -> None:
        consumed = self._buffer[:count]
        newlines = consumed.count("\n")
        if newlines:
            self._line += newlines
            self._column = count - consumed.rfind("\n")
        else:
            self._column += count
        self._buffer = self._buffer[count:]

    def _error(self, message: str, offset: int = 0) -> _JsonStreamError:
        self._advance(offset)
        return _JsonStreamError(self._line, self._column, message)

    def __iter__(self) -> Iterator[tuple[int, int, str, object]]:
        if self._skip_space() != "[":
            raise self._error("expected a JSON array of objects ('[')")
        self._advance(1)
        if self._skip_space() == "]":
            self._advance(1)
        else:
            while True:
                yield self._element()
                separator = self._skip_space()
                if separator == "]":
                    self._advance(1)
                    break
                if separator != ",":
                    raise self._error("expected ',' or ']' after an element")
                self._advance(1)
                self._skip_space()
        if self._skip_space():
            raise self._error("unexpected text after the JSON array")

    def _element(self) -> tuple[int, int, str, object]:
        while True:
            try:
                item, end = self._decode(self._buffer)
            except json.JSONDecodeError as error:
                if self._ended or len(self._buffer) > JSON_RECORD_LENGTH_MAX:
                    raise self._error(f"invalid JSON: {error.msg}", error.pos) from None
                self._fill()
                continue
            except RecursionError:
                raise self._error("invalid JSON: nested too deeply") from None
            if end == len(self._buffer) and not self._ended and self._fill():
                continue  # a number could go on in the next line; decode again with more
            line, column, text = self._line, self._column, self._buffer[:end]
            self._advance(end)
            return line, column, text, item
