"""Signed webhooks (Standard Webhooks 1.0) for run events: endpoints, delivery as a durable task, the SSRF guard.

    signing.py   the `webhook-signature` header          ssrf.py     which URLs may receive webhooks
    sender.py    one HTTP attempt, pinned to a checked address
    tasks/       the delivery task (durable retries)     emitter.py  run status changes -> messages
    routes.py    /api/v1/webhooks...                     settings.py the retry schedule

The registry (endpoints, messages, attempts) is in store/webhooks.py.
"""
