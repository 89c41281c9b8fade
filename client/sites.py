"""The client's site: the cluster whose fileservers it reads from and writes to first (see ``transfer.sites``)."""

from __future__ import annotations

from coffer.transfer.http import connect_seconds
from coffer.transfer.sites import SiteChoice


def site_choice(configured: str | None) -> SiteChoice:
    """Return the site *configured* (``--site``/``COFFER_SITE``), or, for None, one learned from connect times."""
    return SiteChoice(configured, probe=connect_seconds)
