"""Ingestion: turn exports, logs and API batches into normalised observations."""
