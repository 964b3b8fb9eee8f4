"""Matching: a compiled plan's named tests evaluated on one snapshot (DESIGN §4-§5).

`protocol.Matcher` is what the engine needs; `durable` is the one implementation, and the one
module that imports durable-rules or writes its dialect. Nothing is imported here, so reading
the protocol never loads the C extension.
"""
