"""The privacy registry stays one list a reader can trust: every section does something,
names are unique, the account is erased first, and docs/privacy.md lists every section."""

from __future__ import annotations

import re
from pathlib import Path

from shared_code.services.privacy.registry import SECTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def test_every_section_exports_or_erases_and_names_are_unique():
    names = [s.name for s in SECTIONS]
    assert len(names) == len(set(names))
    assert all(s.export is not None or s.erase is not None for s in SECTIONS)


def test_the_account_is_erased_before_anything_else():
    assert SECTIONS[0].name == "profile" and SECTIONS[0].erase is not None


def test_docs_list_every_section_of_the_registry():
    documented = set(re.findall(r"^\| `([A-Za-z]+)` \|", DOC.read_text(), flags=re.MULTILINE))
    assert documented == {s.name for s in SECTIONS}
