"""The live scoring service behind ``plantwatch serve`` (docs/OPERATIONS.md, DESIGN.md section 2)."""
