"""Figures: pure functions from data to ``go.Figure`` (no Dash, no I/O), ISA-101 styled."""
