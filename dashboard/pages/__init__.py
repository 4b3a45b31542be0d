"""One module per page: ``register_page``, ``layout()`` and that page's callbacks."""
