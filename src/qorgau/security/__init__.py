"""Cryptography for people's safety: field encryption, blind indexes, passwords, tokens."""
