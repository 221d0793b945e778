"""Versioned JSON API."""
