"""Material SAS URLs: https-only outside development, and downloads that are always attachments."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shared_code.adapters.blobs import BlobStore
from shared_code.domain.material_files import EXTENSIONS, extension_fits
from shared_code.settings import AZURITE_KEY, Settings

# A key-signed account, so the SAS is built without any service (the key is Azurite's public one).
CONNECTION = f"DefaultEndpointsProtocol=https;AccountName=lecternprod;AccountKey={AZURITE_KEY};EndpointSuffix=core.windows.net"


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def sas_for(environment: str, **overrides: str) -> dict[str, str]:
    store = BlobStore.from_settings(Settings(LECTERN_ENV=environment, LECTERN_STORAGE_CONNECTION=CONNECTION))
    try:
        url, _ = await store.sas_url("materials", "courses/c/m/notes.pdf", permission="r", minutes=5, **overrides)
    finally:
        await store.close()
    return params(url)


@pytest.mark.parametrize("environment", ["production", "staging"])
async def test_sas_urls_are_https_only_outside_development(environment):
    assert (await sas_for(environment))["spr"] == "https"


@pytest.mark.parametrize("environment", ["development", "test"])
async def test_sas_urls_may_use_http_in_development_where_azurite_speaks_it(environment):
    assert "spr" not in await sas_for(environment)


async def test_a_download_sas_makes_the_response_an_attachment_of_the_declared_type():
    query = await sas_for(
        "production", content_disposition='attachment; filename="notes.pdf"', content_type="application/pdf"
    )
    assert query["rscd"] == 'attachment; filename="notes.pdf"' and query["rsct"] == "application/pdf"
    assert query["sp"] == "r" and query["spr"] == "https"


@pytest.mark.parametrize(
    "file_name, content_type, fits",
    [
        ("notes.pdf", "application/pdf", True),
        ("NOTES.PDF", "application/pdf", True),
        ("notes.html", "application/pdf", False),
        ("notes.pdf.html", "application/pdf", False),
        ("notes", "application/pdf", False),
        (".pdf", "application/pdf", False),
        ("photo.jpeg", "image/jpeg", True),
        ("photo.png", "image/jpeg", False),
        ("readme.txt", "text/plain", True),
        ("page.htm", "text/plain", False),
        ("slides.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", True),
        ("x.svg", "image/svg+xml", False),  # a type without extensions accepts no file at all
    ],
)
def test_the_extension_must_fit_the_declared_type(file_name, content_type, fits):
    assert extension_fits(file_name, content_type) is fits


def test_every_type_the_default_settings_allow_has_extensions():
    assert Settings().allowed_material_types <= set(EXTENSIONS)
