"""The settlement report page: self-contained, escaped, and drawn by a real browser."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from mutualcredit.reports import render_settlement_report_html
from mutualcredit.reports.html import json_for_script

HOSTILE = "</script><script>alert(1)</script><!-- \u2028 & \"q\" 'q' 🎸 שלום"


def sample_report() -> dict[str, Any]:
    return {
        "network": "Fora do Eixo",
        "currency": "CARD",
        "period": {"first": "2026-03-01", "last": "2026-03-31"},
        "generated_at": "2026-04-01T03:00:00-03:00",
        "collectives": [
            {"slug": "cubo", "name": "Espaço Cubo", "balance": "120.00", "position": "-50.00"},
            {"slug": "palafita", "name": HOSTILE, "balance": "80.50", "position": "30.00"},
            {"slug": "goma", "name": "Goma", "balance": "-10.00", "position": "20.00"},
        ],
        "turnover_per_day": [
            {"date": f"2026-03-{day:02d}", "amount": f"{day * 37 % 90}.{day:02d}"}
            for day in range(1, 32)
        ],
        "members": [
            {
                "handle": "ana",
                "name": HOSTILE,
                "collective": "cubo",
                "balance": "-95.00",
                "limit_lower": "-100.00",
                "turnover": "12.00",
                "status": "near_limit",
            },
            {"handle": "caio", "name": "Caio", "collective": "palafita", "balance": "30.00"},
        ],
        "netting": [
            {"from": "cubo", "to": "palafita", "amount": "30.00"},
            {"from": "cubo", "to": "goma", "amount": "20.00"},
        ],
    }


@pytest.fixture(scope="module")
def page() -> str:
    return render_settlement_report_html(sample_report())


def test_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>\n")
    # Nothing may be loaded: no src or href at all, no stylesheet links, no CSS imports.
    assert not re.search(r"\b(src|href|srcset|action)\s*=", page, re.IGNORECASE)
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_only_the_three_scripts_of_ours_exist_and_the_policy_allows_exactly_them(
    page: str,
) -> None:
    assert page.lower().count("<script") == 3
    assert page.lower().count("</script") == 3
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 2
    policy = re.search(r"script-src ([^;]+);", page)
    assert policy is not None
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    }
    assert set(policy.group(1).split()) == expected


def test_hostile_text_cannot_break_out_and_reads_back_exactly(page: str) -> None:
    assert "<script>alert(1)" not in page
    assert "<!-- " not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert block is not None
    assert "<" not in block.group(1) and ">" not in block.group(1)
    assert json.loads(block.group(1)) == sample_report()


def test_json_for_script_escapes_markup_characters() -> None:
    assert json_for_script({"memo": "</script>&\u2028"}) == (
        '{"memo":"\\u003c/script\\u003e\\u0026\\u2028"}'
    )


def test_tables_show_exact_amounts_and_statuses(page: str) -> None:
    assert '<td class="amount negative">-50.00</td>' in page
    assert '<td class="amount">80.50</td>' in page
    assert '<td class="status-near_limit">near limit</td>' in page
    assert '<td dir="auto">cubo</td><td dir="auto">palafita</td><td class="amount">30.00</td>' in (
        page
    )


def test_rendering_is_deterministic(page: str) -> None:
    assert render_settlement_report_html(sample_report()) == page


def test_an_empty_period_renders() -> None:
    report = sample_report()
    report.update(collectives=[], members=[], netting=[], turnover_per_day=[])
    assert render_settlement_report_html(report).count(">none</td>") == 3


@pytest.mark.parametrize(
    ("path", "value"),
    [(("collectives", 0, "balance"), 120.0), (("netting", 0, "amount"), "1e3")],
)
def test_amounts_must_be_decimal_strings(path: tuple[Any, ...], value: object) -> None:
    report = copy.deepcopy(sample_report())
    target: Any = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(AssertionError):
        render_settlement_report_html(report)


def test_chart_library_is_vendored_with_its_licence() -> None:
    vendor = resources.files("mutualcredit.reports").joinpath("vendor")
    assert "Chart.js v4" in vendor.joinpath("chart.umd.min.js").read_text(encoding="utf-8")[:200]
    assert "MIT License" in vendor.joinpath("chart.js.LICENSE.md").read_text(encoding="utf-8")


# --- a real browser ------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; absent, skip locally but fail in CI (CI=true)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but chromium is not installed: apt-get install -y chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI=true fails instead")


def run_chromium(
    chromium: str, tmp_path: Path, page: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        html.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def console_lines(stderr: str) -> list[str]:
    """Console output of the page (errors, CSP violations, logs): Chromium tags it CONSOLE."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_browser_draws_every_chart_without_console_output(
    chromium: str, tmp_path: Path, page: str
) -> None:
    # The page's own script marks <body> once it has checked that every canvas
    # holds ink, or records the first error; --dump-dom shows the DOM after load.
    result = run_chromium(chromium, tmp_path, page, "--dump-dom")
    body = re.search(r"<body[^>]*>", result.stdout)
    assert body is not None, result.stdout[:500]
    assert body.group(0) == '<body data-charts-drawn="3">'
    assert console_lines(result.stderr) == []
    assert "<script>alert(1)" not in result.stdout.split('id="report-data"')[0]


def test_phone_screenshot_is_not_blank(chromium: str, tmp_path: Path, page: str) -> None:
    shot = tmp_path / "shot.png"
    result = run_chromium(
        chromium,
        tmp_path,
        page,
        f"--screenshot={shot}",
        "--window-size=412,915",
        "--hide-scrollbars",
    )
    assert console_lines(result.stderr) == []
    width, height, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (412, 915)
    assert len(set(pixels)) > 50  # text, bars and antialiasing; a blank page has 1
    # The positions chart sits at the top: its red (owes) and green (owed) bars show.
    assert any(near(pixel, (0xC6, 0x28, 0x28)) for pixel in pixels)
    assert any(near(pixel, (0x2E, 0x7D, 0x32)) for pixel in pixels)


def near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(pixel[:3], colour, strict=True))


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for row in range(height):
        start = row * (stride + 1)
        line = unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        pixels.extend(tuple(line[i : i + channels]) for i in range(0, stride, channels))
        previous = line
    return width, height, pixels


def unfilter(kind: int, line: bytearray, previous: bytearray, channels: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        upper_left = previous[i - channels] if i >= channels else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            estimate = left + up - upper_left
            distances = (abs(estimate - left), abs(estimate - up), abs(estimate - upper_left))
            best = (left, up, upper_left)[distances.index(min(distances))]
            line[i] = (line[i] + best) & 0xFF
    return line
