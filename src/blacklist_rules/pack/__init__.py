"""The rule pack at load time: YAML → spec → checks → plan (`loader`, `spec`, `checks`,
`compiler`), with the notice templates read and checked with it (`notice_templates`).
Nothing is imported here."""
