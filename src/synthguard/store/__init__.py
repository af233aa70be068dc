"""Storage backends that need a database driver (kept out of the framework-free core)."""
