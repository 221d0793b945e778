"""Tamper-evident evidence storage: Merkle log, signed tree heads and trusted timestamps."""
