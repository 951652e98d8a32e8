"""Benchmarks of workflows_app and its peers; run ``python bench/run.py`` (see docs/benchmarks.md)."""
