"""Certificate codes: random, typeable, and read back whatever way a person types them;
the PDF's text in the embedded font."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared_code.domain.certificates import ALPHABET, new_code, normalise_code
from shared_code.services.certificates.document import drawable, render_pdf

SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_codes_are_sixteen_symbols_in_four_groups_and_never_repeat():
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(SHAPE.match(code) for code in codes)
    used = set("".join(codes).replace("-", ""))
    assert used <= set(ALPHABET) and not used & set("ILOU")


def test_a_code_is_read_back_however_it_is_typed():
    code = "7KQ2-M9XD-4HTC-R8WB"
    for typed in (code, code.lower(), code.replace("-", ""), f" {code} ", "7kq2 m9xd 4htc r8wb"):
        assert normalise_code(typed) == code
    assert normalise_code("7KQ2-M9XD-4HTC-R8WO") == "7KQ2-M9XD-4HTC-R8W0"  # O reads as 0
    assert normalise_code("1KQ2-M9XD-4HTC-R8WB") == normalise_code("IKQ2-M9XD-4HTC-R8WB")  # I reads as 1


def test_anything_else_is_not_a_code():
    for text in ("", "7KQ2-M9XD-4HTC", "7KQ2-M9XD-4HTC-R8WB-0000", "7KQ2-M9XD-4HTC-R8WU", "../../etc", "x" * 500):
        assert normalise_code(text) is None


def test_names_in_every_script_the_font_has_are_kept_and_the_rest_folded_or_marked():
    for name in ("Zoë Brontë", "Dvořák", "Łódź", "Дмитрий Шостакович", "Ωμέγα", "Ֆրանսիա", "שלום"):
        assert drawable(name) == name
    assert drawable("Nguyễn 名") == "Nguyễn ?"  # no CJK in the embedded font


def _mapped_characters(pdf: bytes) -> set[str]:
    """Every character a font of the document maps a glyph to (its ToUnicode maps)."""
    mapped: set[str] = set()
    for cmap in re.findall(rb"beginbfchar(.*?)endbfchar", pdf, re.S):
        for _, code in re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4,8})>", cmap):
            mapped.add(chr(int(code, 16)))
    return mapped


def test_a_cyrillic_name_and_a_greek_title_are_drawn_as_they_are():
    holder, title = "Дмитрий Łukasz", "Ωμέγα Algebra"
    data = render_pdf(
        holder_name=holder, course_title=title, issued_at=datetime(2026, 1, 2, tzinfo=UTC),
        code="7KQ2-M9XD-4HTC-R8WB", verify_url="https://lectern.example/api/certificates/7KQ2-M9XD-4HTC-R8WB",
    )
    assert b"/FontFile2" in data  # the font travels inside the document
    assert set(holder + title) - {" "} <= _mapped_characters(data)


def test_the_certificate_is_a_pdf():
    data = render_pdf(
        holder_name="Ada", course_title="Algebra", issued_at=datetime(2026, 1, 2, tzinfo=UTC),
        code="7KQ2-M9XD-4HTC-R8WB", verify_url="https://lectern.example/api/certificates/7KQ2-M9XD-4HTC-R8WB",
    )
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
