"""A nurse's observations of a session: sedation, dissociation, respiratory status."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["observations"])
