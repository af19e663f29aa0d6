"""One module per CLI verb; each defines ``register(app)`` and imports heavy modules lazily."""
