"""A user too big to hold whole in the short-term tier (partial residency): its records read on demand
(`records`), its vectors, words and filterable fields in a memory-mapped snapshot with a RAM delta
(`snapshot`, `snapshot_fields`, `lexical_snapshot`), a filter's selection of it (`selection`,
`filter_masks`), and the promotion and upkeep that make and refresh it (`residency`)."""
