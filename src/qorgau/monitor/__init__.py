"""Reachability monitor: tell blocking from DDoS from outage, per host, from inside the country."""
