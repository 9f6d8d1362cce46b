"""ALB entry point of the gateway Lambda.

Placeholder until the gateway issue lands: every request gets an OpenAI-shaped 503.
"""

import json


def handle(event, context):  # noqa: ARG001 - Lambda signature
    body = {"error": {"message": "regiongate gateway is not deployed yet", "type": "service_unavailable", "code": 503}}
    return {
        "statusCode": 503,
        "statusDescription": "503 Service Unavailable",
        "isBase64Encoded": False,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
