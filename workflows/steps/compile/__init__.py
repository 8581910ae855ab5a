"""The compile step."""
