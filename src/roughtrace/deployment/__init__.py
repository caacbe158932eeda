"""A deployment's own settings, versioned in its store: one set for every client of one store."""
