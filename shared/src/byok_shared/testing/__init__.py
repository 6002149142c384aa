"""Test helpers for byok: real nats-server fixtures and in-process services.

Load the fixtures with ``pytest_plugins = ["byok_shared.testing.fixtures"]``.
"""

from __future__ import annotations

from .apps import running, settings_for

__all__ = ["running", "settings_for"]
