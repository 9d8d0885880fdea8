"""The runs dashboard, served by the API app at `/`: server-rendered Jinja2 pages, htmx (vendored from npm under
static/vendor/, nothing from a CDN) for filters, paging and actions, and the run page kept live by the realtime SSE
stream. Login by pasting a secret key (kept in an HttpOnly, SameSite=Strict cookie); see routes.py."""
