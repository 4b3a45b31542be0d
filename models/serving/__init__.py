"""The live scoring service behind ``plantwatch serve`` (docs/OPERATIONS.md)."""
