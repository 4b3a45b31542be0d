"""MQTT consumption, codecs and validation, dead letters, redaction, the store, window assembly."""
