"""Tools for rule authors over the public APIs: replay and shadow diff (`replay`) with its
HTML page (`diff_html`), rule test cases (`cases`). Test data for users stays in
`blacklist_rules.testing`. Nothing is imported here."""
