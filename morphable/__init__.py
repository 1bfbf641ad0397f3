"""morphable package."""
