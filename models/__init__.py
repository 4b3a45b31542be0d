"""Features, encoders, fusion, training, evaluation, calibration, explanation, registry, scoring."""
