"""The analyst agent: answers a question about a data source in SQL, over its latest catalog snapshot.

Only the catalog search exists so far (`tasks.analyst_agent.search`); the agent's task and states come later. This
module imports nothing so that importing the search does not pull in the agent (or anything heavy) with it.
"""
