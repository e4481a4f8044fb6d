"""Material file names: safe blob names, honest download names."""

from __future__ import annotations

import pytest

from shared_code.domain.material_files import (
    MAX_BLOB_FILE_NAME,
    blob_name_for,
    content_disposition,
    display_name,
    normalise_type,
    sanitise_file_name,
)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("notes.pdf", "notes.pdf"),
        ("Week 1 — Intro (final).pdf", "Week_1_Intro_final.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\fakepath\\slides.pptx", "slides.pptx"),
        (".hidden", "file.hidden"),
        ("résumé.txt", "resume.txt"),
        ("数据.pdf", "file.pdf"),
        ("....", "file"),
        ("a..b.pdf", "a.b.pdf"),
        ("tab\there.txt", "tabhere.txt"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("evil.p$d%f", "evil.pdf"),
        ("README", "README"),
    ],
)
def test_file_names_are_sanitised_for_blob_paths(given, expected):
    assert sanitise_file_name(given) == expected


def test_long_names_keep_their_extension():
    name = sanitise_file_name("x" * 300 + ".pdf")
    assert len(name) <= MAX_BLOB_FILE_NAME and name.endswith(".pdf")


def test_the_blob_name_is_chosen_by_the_server_under_the_course_and_material():
    assert blob_name_for("c1", "m1", "../../x.pdf") == "courses/c1/m1/x.pdf"


def test_the_display_name_is_the_last_segment_without_control_characters():
    assert display_name("dir/sub\\Report\x00 2024.pdf") == "Report 2024.pdf"


def test_ascii_names_download_under_their_own_name():
    assert content_disposition("notes.pdf") == 'attachment; filename="notes.pdf"'


def test_quotes_cannot_break_out_of_the_header():
    value = content_disposition('a"; filename="evil.exe')
    assert value.count('"') == 2 and value.startswith("attachment; ")


def test_non_ascii_names_add_an_rfc_6266_filename_star():
    value = content_disposition("résumé.txt")
    assert value == "attachment; filename=\"resume.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"


def test_content_types_compare_without_parameters_or_case():
    assert normalise_type("Text/Plain; charset=utf-8") == "text/plain"
    assert normalise_type(None) == ""
