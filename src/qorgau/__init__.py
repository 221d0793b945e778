"""Qorgau: rapid response, evidence and monitoring for digital attacks on journalists."""

__version__ = "0.1.0"
