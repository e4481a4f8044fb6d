"""`python -m shared_code.migrations [--url URL]`: apply pending migrations."""

from __future__ import annotations

import argparse
import logging
import sys

from shared_code.migrations import apply_migrations
from shared_code.settings import get_settings


def main() -> int:
    parser = argparse.ArgumentParser(description="Apply Lectern's PostgreSQL migrations.")
    parser.add_argument("--url", help="PostgreSQL URL (default: POSTGRES_URL from the settings)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = args.url or get_settings().postgres_url.get_secret_value()
    try:
        applied = apply_migrations(url)
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not trace
        print(f"migrations failed: {exc}", file=sys.stderr)
        return 1
    print(f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", database up to date"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
