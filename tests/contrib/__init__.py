"""Tests of the framework integrations; each module is skipped when its framework is not installed."""
