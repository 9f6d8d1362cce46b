"""Service invocations of a function limited to the calling resource and the stack's own account.

A ``lambda:InvokeFunction`` permission for a service principal alone lets that service invoke the function on
behalf of any account's resource (the confused-deputy problem); ``SourceAccount`` and ``SourceArn`` bind it to this
account's resource. CDK's grants (ALB Lambda targets, rotation schedules) add neither, so they are set here on the
permissions a function already has.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_lambda as lambda_


def confine_service_invocations(function: lambda_.IFunction, *, principal: str, source_arn: str) -> int:
    """Set ``SourceAccount`` (this account) and ``SourceArn`` on every permission of ``function`` granted to
    ``principal``; returns how many, and raises if there is none (the grant this is meant for moved elsewhere)."""
    permissions = [
        child
        for child in function.node.find_all()
        if isinstance(child, lambda_.CfnPermission) and child.principal == principal
    ]
    if not permissions:
        raise ValueError(f"{function.node.path}: no lambda:InvokeFunction permission for {principal} to confine")
    for permission in permissions:
        permission.source_account = Aws.ACCOUNT_ID
        permission.source_arn = source_arn
    return len(permissions)
