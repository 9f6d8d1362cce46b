"""The regiongate regional console: usage, spend, API keys and guardrail violations of one region.

A Starlette app with server-rendered Jinja2 templates. It shares the gateway's schema and store code
(:mod:`regiongate.store`, :mod:`regiongate.store.keys`): the keys it creates and revokes are the keys the
gateway accepts. ``python -m regiongate.console.runtime`` serves it on ``$CONSOLE_PORT`` (default
:data:`regiongate.contract.limits.CONSOLE_PORT`), with the region document the stack put in its environment;
``regiongate console --region eu`` does the same locally against ``DATABASE_URL``.
"""
