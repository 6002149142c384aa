"""The usage-tracker's error tree."""

from __future__ import annotations

from byok_contracts import MalformedRequest

__all__ = ["BadWindow"]


class BadWindow(MalformedRequest):
    """400: ``since`` is after ``until``."""

    def __init__(self) -> None:
        super().__init__("since must not be after until", error="bad_window")
