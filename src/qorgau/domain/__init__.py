"""Pure domain: no web framework, no SQL. Everything here is testable with plain objects."""
