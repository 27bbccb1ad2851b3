"""Template tags of the prices app."""
