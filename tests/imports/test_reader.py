"""Bad inputs: every one gives a clear FILE:LINE:COLUMN problem (and nothing is guessed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mutualcredit.imports import (
    Filtered,
    ParsedRow,
    Problem,
    SourceReader,
    load_rules,
    parse_file,
    rules_from_document,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
TICKETS = ROOT / "examples" / "import-rules" / "tickets.toml"
BAR = ROOT / "examples" / "import-rules" / "bar.toml"
TICKETS_CSV = ROOT / "examples" / "samples" / "tickets-grito-rock-cuiaba-2026.csv"


def rules(path: Path, **source):
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    document["source"].update(source)
    return rules_from_document(document)


def outcome(path: Path, rules, **options) -> list[str]:
    """Each item as one line: problems as FILE:LINE:COLUMN, rows by line and kind."""
    lines = []
    for item in parse_file(path, rules, **options):
        if isinstance(item, Problem):
            relative = str(item).removeprefix(str(DATA) + "/")
            lines.append(relative + (" [fatal]" if item.fatal else ""))
        elif isinstance(item, ParsedRow):
            lines.append(f"{item.line}: row {item.external_id} {item.amount}")
        else:
            assert isinstance(item, Filtered)
            lines.append(f"{item.line}: filtered, {item.reason}")
    return lines


def test_bad_csv_rows_each_have_a_problem_at_their_field():
    # The header of bad-rows.csv is reordered and has no E-mail column: fields go by name.
    assert outcome(DATA / "bad-rows.csv", load_rules(TICKETS)) == [
        "2: row GR26-1 4000",
        "3: row GR26-2 120000",
        "bad-rows.csv:4:51: the row has 6 fields but the header has 8; is the row cut short?",
        "bad-rows.csv:5:61: the row has 9 fields but the header has 8; an extra ';'?",
        "bad-rows.csv:6:17: the amount is empty",
        "bad-rows.csv:7:17: amount '12,5,0' has more than one decimal mark ','",
        "bad-rows.csv:8:17: amount 'R$ 40,00' contains 'R'; expected digits with ',' as decimal "
        "mark and '.' between thousands, e.g. 1.234,55; amounts.strip can remove a currency "
        "symbol",
        "bad-rows.csv:9:17: amount '-40,00' is negative; the rules refuse negative amounts "
        "(amounts.negative)",
        "bad-rows.csv:10:23: date '31/02/2026 12:27' does not exist (day is out of range for "
        "month)",
        "bad-rows.csv:11:10: external id 'GR26-1' appears twice in this file (first on line 2)",
        "bad-rows.csv:12:1: Status do pedido 'Aprovdo' is not a value the rules know "
        "('Aprovado', 'Cancelado', 'Estornado', 'Pendente')",
        "13: filtered, Status do pedido is 'Cancelado'",
        "bad-rows.csv:14:18: amount '1.20,00' has misplaced thousands separators '.'",
        "bad-rows.csv:14:54: Forma de pagamento 'Cheque' has no entry in placeholders.box.map",
        "bad-rows.csv:15:24: date '13/11/2026' does not match the format '%d/%m/%Y %H:%M'",
    ]


def test_counts_after_iteration():
    parse = parse_file(DATA / "bad-rows.csv", load_rules(TICKETS))
    problems = [item for item in parse if isinstance(item, Problem)]
    assert (parse.rows_parsed, parse.rows_filtered, parse.rows_rejected) == (2, 1, 11)
    assert (parse.problems, len(problems), parse.fatal) == (12, 12, False)
    assert problems[0].code == "row_too_short"
    assert problems[0].text == "Aprovado;GR26-3;40,00;13/11/2026 12:21;Bia;Inteira\r\n"


def test_missing_column():
    assert outcome(DATA / "missing-column.csv", load_rules(TICKETS)) == [
        "missing-column.csv:1:1: column 'Valor do ingresso' is not in the header; the header "
        "has 'Número do pedido', 'Data do pedido', 'Nome do comprador', 'E-mail', 'Tipo de "
        "ingresso', 'Taxa de conveniência', 'Status do pedido', 'Forma de pagamento' [fatal]"
    ]


def test_empty_header_only_and_binary_files():
    tickets = load_rules(TICKETS)
    assert outcome(DATA / "empty.csv", tickets) == ["empty.csv:1:1: the file is empty [fatal]"]
    assert outcome(DATA / "header-only.csv", tickets) == [
        "header-only.csv:2:1: the file has a header but no rows [fatal]"
    ]
    assert outcome(DATA / "binary.csv", tickets) == [
        "binary.csv:1:1: the file looks binary (a NUL byte at byte 0); expected text in "
        "utf-8-sig [fatal]"
    ]


def test_a_nul_later_in_the_file(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes((DATA / "header-only.csv").read_bytes() + b"x" * 9000 + b"\x00;\r\n")
    (problem,) = list(parse_file(path, load_rules(TICKETS)))
    assert str(problem).removeprefix(str(tmp_path) + "/") == (
        "nul.csv:2:9001: a NUL byte at byte 9152; this is not text"
    )


def test_file_over_the_size_limit():
    assert outcome(DATA / "bar.json", load_rules(BAR), size_limit=100) == [
        "bar.json:1:1: the file is 252 bytes; the limit is 100 bytes [fatal]"
    ]


def test_latin1_read_as_utf8():
    assert outcome(DATA / "latin1.csv", rules(TICKETS, encoding="utf-8")) == [
        "latin1.csv:1:2: byte 0xFA at byte 1 of the file is not valid utf-8; the file may be "
        "cp1252/latin-1: set encoding in the rules [fatal]"
    ]


def test_latin1_row_read_as_utf8_after_an_ascii_header(tmp_path):
    path = tmp_path / "rows.csv"
    header = (DATA / "header-only.csv").read_bytes()  # 152 bytes, CRLF
    path.write_bytes(
        header + "GR26-1;13/11/2026 12:19;João;j@x;Inteira;40,00;4,00;Aprovado;Pix\r\n"
        .encode("cp1252")
    )  # fmt: skip
    assert outcome(path, load_rules(TICKETS)) == [
        f"{tmp_path}/rows.csv:2:27: byte 0xE3 at byte 178 of the file is not valid utf-8-sig; "
        "the file may be cp1252/latin-1: set encoding in the rules"
    ]


def test_latin1_read_as_cp1252_is_fine():
    assert outcome(DATA / "latin1.csv", rules(TICKETS, encoding="cp1252")) == [
        "2: row GR26-100014 4000",
        "3: row GR26-100007 2500",
    ]


def test_utf8_read_as_cp1252_is_named_mojibake():
    assert outcome(DATA / "utf8.csv", rules(TICKETS, encoding="cp1252")) == [
        "utf8.csv:1:2: the text looks like UTF-8 read as cp1252 ('NÃºmero do pedido;Dat'); "
        'set encoding = "utf-8" in the rules [fatal]'
    ]


@pytest.mark.skipif(not TICKETS_CSV.exists(), reason="shared samples not present")
def test_byte_order_mark_with_plain_utf8():
    problems = outcome(TICKETS_CSV, rules(TICKETS, encoding="utf-8"))
    assert problems == [
        f"{TICKETS_CSV}:1:1: the file starts with a UTF-8 byte-order mark; set encoding = "
        '"utf-8-sig" in the rules [fatal]'
    ]


def test_bad_json_lines():
    assert outcome(DATA / "bar-bad.jsonl", load_rules(BAR)) == [
        "1: row BAR-1 800",
        "bar-bad.jsonl:2:28: date '2026-11-21T21:09:56' has no time zone offset and the rules "
        "set no dates.time_zone",
        "bar-bad.jsonl:3:110: invalid JSON: Expecting ',' delimiter",
        "bar-bad.jsonl:5:1: expected a JSON object, found an array",
        "6: row BAR-5 1250",
        "bar-bad.jsonl:7:1: 'total' is missing",
        "bar-bad.jsonl:8:82: 'total' is a boolean; expected a string or a number",
        "bar-bad.jsonl:9:101: account name 'collectives:cubo:cash:Caixa 3' is not valid: use 2 "
        "to 8 segments joined by ':', each 1 to 32 characters from a-z, 0-9, '.', '_' and '-' "
        "(e.g. collectives:cubo:cash:bilheteria)",
        "bar-bad.jsonl:10:13: external id 'BAR-1' appears twice in this file (first on line 1)",
    ]


def test_empty_jsonl_file_of_blank_lines(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    (problem,) = list(parse_file(path, load_rules(BAR)))
    assert (problem.line, problem.column, problem.message) == (1, 1, "the file has no records")


def test_json_array():
    bar_array = rules(BAR, format="json")
    assert outcome(DATA / "bar.json", bar_array) == ["2: row BAR-1 800", "4: row BAR-2 1500"]
    assert outcome(DATA / "bar-broken.json", bar_array) == [
        "2: row BAR-1 800",
        "bar-broken.json:5:21: invalid JSON: Expecting ',' delimiter [fatal]",
    ]


def test_json_array_element_positions(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(
        '[{"sale_id": "A", "at": "2026-11-21T21:00:00Z", "item": "x", "total": "1.0.0", '
        '"cashier": "c"},\n {"sale_id": "B", "at": "2026-11-21T21:00:00Z", "item": "x", '
        '"total": "x", "cashier": "c"}]\n',
        encoding="utf-8",
    )
    assert [(p.line, p.column) for p in parse_file(path, rules(BAR, format="json"))] == [
        (1, 71),
        (2, 71),
    ]


def test_json_that_is_not_an_array(tmp_path):
    path = tmp_path / "o.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    (problem,) = list(parse_file(path, rules(BAR, format="json")))
    assert (problem.line, problem.column, problem.message, problem.fatal) == (
        1, 1, "expected a JSON array of objects ('[')", True,
    )  # fmt: skip


def test_reordered_and_extra_columns_are_fine(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        "Extra;Forma de pagamento;Status do pedido;Valor do ingresso;Tipo de ingresso;"
        "Data do pedido;Número do pedido\n"
        "z;Dinheiro na bilheteria;Aprovado;70,00;Passaporte 2 dias;04/10/2026 01:33;X1\n",
        encoding="utf-8",
    )
    (row,) = list(parse_file(path, load_rules(TICKETS)))
    assert row.postings[1] == ("collectives:cubo:cash:bilheteria", "BRL", 6300)


def test_quoted_field_spanning_lines_keeps_line_numbers(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text(
        "Número do pedido;Data do pedido;Valor do ingresso;Tipo de ingresso;Status do pedido;"
        'Forma de pagamento\nA;01/11/2026 10:00;1,00;"two\nlines";Aprovado;Pix\n'
        "B;01/11/2026 10:00;x;Inteira;Aprovado;Pix\n",
        encoding="utf-8",
    )
    problems = [
        str(item).removeprefix(f"{tmp_path}/") for item in parse_file(path, load_rules(TICKETS))
    ]
    assert problems == [
        # A memo may not hold a line break, so the quoted two-line description is refused...
        "q.csv:2:25: the description contains a control character (U+000A) at position 4; "
        "control characters are not allowed",
        # ...and the next record is still counted from the right line.
        "q.csv:4:20: amount 'x' contains 'x'; expected digits with ',' as decimal mark and '.' "
        "between thousands, e.g. 1.234,55; amounts.strip can remove a currency symbol",
    ]


def test_sha256_is_of_the_whole_file_even_after_a_fatal_problem():
    import hashlib

    path = DATA / "bar-broken.json"
    parse = parse_file(path, rules(BAR, format="json"))
    assert parse.sha256 is None  # nothing read yet
    list(parse)
    assert parse.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_reader_projects_records_onto_the_needed_fields():
    records = list(SourceReader(DATA / "bar.json", rules(BAR, format="json")))
    assert [record.values for record in records] == [
        ("BAR-1", "2026-11-21T21:08:56-04:00", "8.00", "Água", "caixa-1"),
        ("BAR-2", "2026-11-21T21:09:56-04:00", "15.00", "Cerveja artesanal", "caixa-2"),
    ]


def _everything(path: Path, rules) -> list[tuple]:
    """Every item the reader yields, in full (records with their text and values)."""
    reader = SourceReader(path, rules)
    items = [
        (str(item), item.code, item.fatal, item.text)
        if isinstance(item, Problem)
        else (item.line, item.column, item.text, item.values)
        for item in reader
    ]
    return [*items, ("lines", reader.lines_read, reader.sha256)]


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1000])
def test_lines_decoded_in_blocks_of_any_size_read_the_same(tmp_path, monkeypatch, block):
    import mutualcredit.imports.reader as reader_module

    good = TICKETS_CSV.read_bytes()
    lines = good.split(b"\n")
    # A quoted field over two lines, a Latin-1 byte, then (past the binary probe) a NUL and
    # a last line without its newline.
    lines[3] = lines[3].replace(b"Inteira", b'"Meia\nentrada"', 1)
    lines[5] = lines[5].replace(b"Inteira", b"Inteira \xe9", 1)
    while sum(map(len, lines)) < 3 * 8192:
        lines += good.split(b"\n")[1:10]
    lines.append(lines[2].replace(b"Inteira", b"Int\x00eira", 1))
    lines.append(lines[2].replace(b"Inteira", b"Meia", 1))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\n".join(lines))
    for sample in (TICKETS_CSV, path):
        whole = _everything(sample, load_rules(TICKETS))
        monkeypatch.setattr(reader_module, "DECODE_BLOCK_SIZE", block)
        assert _everything(sample, load_rules(TICKETS)) == whole
        monkeypatch.undo()
    assert any("0xE9" in str(item) for item in whole) and any("NUL" in str(item) for item in whole)


@pytest.mark.parametrize("block", [3, 16, 4096])
def test_a_line_too_long_is_found_whatever_the_block_size(tmp_path, monkeypatch, block):
    import mutualcredit.imports.reader as reader_module

    path = tmp_path / "long.csv"
    header = TICKETS_CSV.read_bytes().split(b"\n")[0]
    limit = len(header) + 5
    path.write_bytes(header + b"\n" + b"x" * limit + b"\n" + b"y" * (limit + 1) + b"\nz\n")
    monkeypatch.setattr(reader_module, "LINE_LENGTH_MAX", limit)
    monkeypatch.setattr(reader_module, "DECODE_BLOCK_SIZE", block)
    problems = [
        item for item in SourceReader(path, load_rules(TICKETS)) if isinstance(item, Problem)
    ]
    assert [(p.line, p.code, p.fatal) for p in problems][-1] == (3, "line_too_long", True)
