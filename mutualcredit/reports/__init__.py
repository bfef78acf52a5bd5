"""Reports rendered from plain data.

The services gather a settlement report as a plain dictionary whose amounts
are decimal strings (``"-30.00"``); the modules here only render it.  They
read no database and no clock, so the same report always renders to the same
bytes.
"""

from mutualcredit.reports.html import render_settlement_report_html

__all__ = ["render_settlement_report_html"]
