"""Alias packages installed under `haystack_integrations.*` (see pyproject's package-dir)."""
