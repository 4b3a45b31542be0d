"""Vibration physics: bearing and gear frequencies, envelope analysis, ISO 20816 severity."""
