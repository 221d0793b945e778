"""Encrypted, verifiable backups of a whole desk: database rows, evidence blobs, key files.

``crypto`` seals a byte stream with a passphrase in authenticated chunks, ``container`` frames
members and the manifest inside that stream, ``dump`` writes a backup from a live store and
``restore`` loads one into an empty installation. See docs/decisions/0023-backup-format.md.
"""
