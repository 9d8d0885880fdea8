"""The platform's HTTP API: FastAPI app (`api.app.create_app`), auth, routes, realtime SSE; see api/README.md.

Depends on the runtime and the store; neither knows about it.
"""
