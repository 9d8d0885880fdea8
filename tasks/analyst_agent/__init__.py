"""The analyst agent: answers questions about a data source with numbers it actually queried."""
