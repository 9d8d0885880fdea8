"""The analyst agent: answers questions about a data source with numbers it actually queried.

This module imports nothing, so importing one part (the catalog search, the model layer) does not pull in the rest.
"""
