"""The model: typed records and pure functions every layer above shares (events, decisions,
identity fingerprints, event time, window definitions, the audit hash chain). It imports
nothing of ours but `errors`, and nothing is imported here."""
