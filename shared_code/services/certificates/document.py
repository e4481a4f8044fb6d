"""The certificate as a one-page PDF (fpdf2): holder, course, date, code and where to verify it.

fpdf2's built-in fonts cover Latin-1 only; a name or title outside it is written with its
accents folded and other characters as `?` (the verification page shows the exact text).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from fpdf import FPDF


def latin1(text: str) -> str:
    """`text` as the built-in fonts can draw it: Latin-1 kept, other letters without their
    accents where that makes them Latin-1, anything else `?`."""
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
            continue
        folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(folded if folded and all(ord(c) < 256 for c in folded) else "?")
    return "".join(out)


def render_pdf(*, holder_name: str, course_title: str, issued_at: datetime, code: str, verify_url: str) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(latin1(f"Certificate of completion: {course_title}"))
    pdf.set_author("Lectern")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    width = pdf.w - 2 * pdf.l_margin
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)

    def line(text: str, size: int, *, style: str = "", gap: float = 4.0) -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(width, size * 0.5, latin1(text), align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    pdf.set_y(40)
    line("Certificate of completion", 30, style="B", gap=12)
    line("This certifies that", 14)
    line(holder_name, 26, style="B", gap=8)
    line("has completed every lesson of the course", 14)
    line(course_title, 20, style="B", gap=14)
    line(f"Issued on {issued_at:%d %B %Y}", 12, gap=2)
    line(f"Certificate code {code}", 12, gap=2)
    line(f"Verify at {verify_url}", 10)
    return bytes(pdf.output())
