"""Placeholder for the regiongate console (its own issue builds the real app).

It exists so ``console/Dockerfile`` builds and the ECS service, ALB and health checks can be wired and
tested now: ``python -m regiongate_console`` serves ``GET /healthz`` on ``$CONSOLE_PORT`` (default 8081).
"""

PORT = 8081
