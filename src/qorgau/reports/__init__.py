"""Statistics, monitoring reports, public data and sharing with partners (STIX 2.1, MISP)."""
