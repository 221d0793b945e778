"""Rapid response: the rules and data that turn a stored incident into a human response.

Triage rules, response clocks, playbooks, the on-call roster, the referral directory and
statement templates are data files checked against a schema; this package holds their
validation and the pure decisions made from them (which severity, who is on duty, which
partner fits). Nothing here touches the database or HTTP.
"""
