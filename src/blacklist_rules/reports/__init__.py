"""Compliance reports over the engine's and the stores' public APIs: DSA statements of
reasons (`dsa`), notices to account holders (`notices`), a decision's explanation
(`explain`). Nothing is imported here."""
