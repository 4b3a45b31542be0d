"""Operational figures: gaps and restarts per sensor, dead letters per reason, Prometheus text."""

from __future__ import annotations

from ingest.metrics import IngestMetrics, prometheus_text, sensor_dict


def test_gaps_and_gateway_restarts_are_counted_per_sensor():
    m = IngestMetrics("w1")
    seqs = [(1, 0), (1, 1), (1, 4), (1, 3), (2, 0), (2, 1)]  # 2 missing, 1 late, 1 restart
    m.on_stored([("P-1", "temp", e, s, 1_000 + s, 2_000) for e, s in seqs], 600, 0, 5)
    stats = sensor_dict(m.snapshot(), "P-1/temp")
    assert stats["gaps"] == 2
    assert stats["restarts"] == 1
    assert stats["readings"] == 6
    assert stats["last_seen_ns"] == 1_004


def test_prometheus_text_has_dead_letters_per_reason_and_per_sensor_gauges():
    m = IngestMetrics("w1")
    m.on_dead_letter("malformed")
    m.on_dead_letter("malformed")
    m.on_dead_letter("unknown_asset")
    m.on_stored([("P-1", "temp", 1, 0, 5_000_000_000, 6)], 100, 3, 10)
    text = prometheus_text(m.snapshot())
    assert 'plantwatch_ingest_dead_letters_total{worker="w1",reason="malformed"} 2' in text
    assert 'plantwatch_ingest_dead_letters_total{worker="w1",reason="unknown_asset"} 1' in text
    assert 'plantwatch_ingest_duplicates_total{worker="w1"} 3' in text
    assert 'plantwatch_ingest_sensor_last_seen_seconds{worker="w1",sensor="P-1/temp"} 5.0' in text
    assert "# TYPE plantwatch_ingest_stored_total counter" in text
