"""The certificate as a one-page PDF (fpdf2): holder, course, date, code and where to verify it.

Names and titles come in every script, so the text is set in a Unicode font embedded in
the document (DejaVu Sans, shipped in `shared_code/static/fonts` with its license, as no
font can be assumed on the host): Latin with every accent, Greek, Cyrillic, Armenian,
Georgian, Hebrew, Arabic letters and more. A character the font lacks is written with its
accents folded when that gives letters it has, else as `?` (the verification page shows the
exact text). The coverage is read with fontTools, which fpdf2 itself depends on.
"""

from __future__ import annotations

import functools
import unicodedata
from datetime import datetime
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
FONT_FAMILY = "DejaVuSans"
FONT_FILES = {"": FONT_DIR / "DejaVuSans.ttf", "B": FONT_DIR / "DejaVuSans-Bold.ttf"}


@functools.cache
def _covered() -> frozenset[int]:
    """The code points every style of the embedded font has a glyph for."""
    covered: frozenset[int] | None = None
    for path in FONT_FILES.values():
        font = TTFont(path, lazy=True)
        try:
            points = frozenset(font.getBestCmap())
        finally:
            font.close()
        covered = points if covered is None else covered & points
    assert covered is not None
    return covered


def drawable(text: str) -> str:
    """`text` as the embedded font can draw it: every character it has kept, others without
    their accents where that gives characters it has, anything else `?`."""
    covered = _covered()
    out = []
    for ch in text:
        if ord(ch) in covered or ch in "\n\t":
            out.append(ch)
            continue
        folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(folded if folded and all(ord(c) in covered for c in folded) else "?")
    return "".join(out)


def render_pdf(*, holder_name: str, course_title: str, issued_at: datetime, code: str, verify_url: str) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    for style, path in FONT_FILES.items():
        pdf.add_font(FONT_FAMILY, style=style, fname=str(path))
    pdf.set_title(drawable(f"Certificate of completion: {course_title}"))
    pdf.set_author("Lectern")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    width = pdf.w - 2 * pdf.l_margin
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)

    def line(text: str, size: int, *, style: str = "", gap: float = 4.0) -> None:
        pdf.set_font(FONT_FAMILY, style=style, size=size)
        pdf.multi_cell(width, size * 0.5, drawable(text), align="C", new_x="LMARGIN", new_y="NEXT")
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
