"""The vantage agent (``qorgau probe``): measures from inside a network, keeps every result
until the server has it, and signs what it saw."""
