"""Data access for the dashboard: no Dash imports here, so it is testable on its own.

``sources`` declares the small interfaces the pages read through; ``alarms_api`` talks to the
alarm HTTP API of ``plantwatch serve``; ``store`` reads the durable store; ``overview``,
``evidence`` and ``model_info`` aggregate on the server so the browser gets small documents.
"""
