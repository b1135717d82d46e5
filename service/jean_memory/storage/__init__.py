"""Where memories live: the journal, the short-term tier, the long-term stores and their snapshots."""
