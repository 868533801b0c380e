"""Lowering rules (filled in per op family)."""
