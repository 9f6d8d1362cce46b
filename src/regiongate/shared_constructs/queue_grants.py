"""Sending to a queue encrypted with the stack key, without a general right to use that key.

``Queue.grant_send_messages`` also gives ``kms:Decrypt``/``GenerateDataKey*`` on the key with no condition, which
would let the grantee decrypt anything sealed with the stack key (the orgs' provider credentials among them, whose
own grant requires their encryption context). Here the key actions are limited to SQS's own encryption context
(``aws:sqs:arn`` = this queue), which SQS passes on every data-key request for the queue.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs

SEND_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
# What an SQS producer needs of the queue's KMS key (SendMessage to an SSE-KMS queue).
PRODUCER_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
SQS_CONTEXT_KEY = "kms:EncryptionContext:aws:sqs:arn"


def grant_send_to_encrypted_queue(queue: sqs.IQueue, key: kms.IKey, grantee: iam.IGrantable) -> None:
    iam.Grant.add_to_principal(grantee=grantee, actions=list(SEND_ACTIONS), resource_arns=[queue.queue_arn])
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(PRODUCER_KEY_ACTIONS),
        resource_arns=[key.key_arn],
        conditions={"StringEquals": {SQS_CONTEXT_KEY: queue.queue_arn}},
    )
