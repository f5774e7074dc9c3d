"""dataio package."""
