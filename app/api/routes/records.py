"""A session's discharge checklist and its printable record."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["records"])
