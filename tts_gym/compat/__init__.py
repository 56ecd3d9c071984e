"""Compatibility layers for controllers written for other code bases."""
