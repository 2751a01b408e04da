"""Tests of the benchmark harness (no spec section)."""
