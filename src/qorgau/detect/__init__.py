"""Detectors: plugins that read batches of observations and report findings.

Every detector is a plain function over a batch (see ``interfaces``); the same code runs
in-process, as JetStream workers and on Dask, so a detector tested on a file behaves the same
in production."""
