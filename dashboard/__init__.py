"""The Dash operator dashboard: pages, figures, data access, auth."""
