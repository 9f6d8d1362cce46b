"""The gateway as a container service (``gateway.runtime: container``): ECS Fargate behind the gateway's HTTPS ALB.

The ``regiongate/gateway`` image (src/regiongate/gateway/Dockerfile) runs the same service code as the Lambda
through ``python -m regiongate.gateway.runtime.container``, which streams server-sent events as they arrive.

- Tasks in the private subnets of at least two zones, no public IP, pulled by digest from the stack's own
  in-region ECR repository (never a tag, never a public registry).
- The ALB forwards to an IP target group; its idle timeout and the target group's deregistration delay are the
  deployment's drain time (the longest generation plus time to answer), so a stream in flight when a task is
  replaced finishes there while new requests go to the other tasks. ECS sends SIGTERM only after draining;
  the server then lets what is left finish (up to the Fargate stop timeout) and hands on its audit events.
- Target-tracking autoscaling on CPU and on ALB requests per target; deployment circuit breaker with rollback.
- Task role: send to the audit queue, read the provider and database secrets, invoke exactly the configured
  Bedrock models (the Lambda's grants). Logs go to an in-region log group encrypted with the stack key.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from regiongate.contract.environment import gateway_processes_environment
from regiongate.contract.limits import GATEWAY_PORT
from regiongate.gateway.infrastructure import bedrock_statement
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import encrypted_log_group
from regiongate.shared_constructs.nag import acknowledge
from regiongate.shared_constructs.queue_grants import grant_send_to_encrypted_queue
from regiongate.shared_constructs.task_platform import runtime_platform

IMAGE = "gateway"
HEALTH_PATH = "/health"
# The container's start command: the Dockerfile's CMD is the same (tests/e2e/gateway/test_container_image.py).
COMMAND = ("python", "-m", "regiongate.gateway.runtime.container")
# Uses the image's own Python (no curl in slim); the Dockerfile's HEALTHCHECK is the same probe.
HEALTH_URL = f"http://127.0.0.1:{GATEWAY_PORT}{HEALTH_PATH}"
HEALTH_COMMAND = f"python -c \"import urllib.request; urllib.request.urlopen('{HEALTH_URL}', timeout=4)\""
# One task holds hundreds of streams (docs/benchmarks.md); at least two, one per zone.
MIN_TASKS = 2
MAX_TASKS = 10
# One vCPU's share of a task (sizing.gateway_task_vcpus): every 1, 2 and 4 vCPU task with 2 GiB per vCPU is a
# valid Fargate combination. The task runs one server process per vCPU (regiongate.gateway.runtime.processes):
# one process serves on one event loop, so it uses at most one CPU.
TASK_CPU = 1024
TASK_MEMORY_MIB = 2048
CPU_TARGET_PERCENT = 60
REQUESTS_PER_TARGET_PER_MINUTE = 1000
# Fargate's most: SIGTERM → SIGKILL. In-flight streams had the deregistration delay before SIGTERM.
STOP_TIMEOUT = Duration.seconds(120)
KMS_GRANT_WILDCARDS = ("kms:GenerateDataKey*", "kms:ReEncrypt*")


def task_size(vcpus: int) -> tuple[int, int]:
    """The task's CPU units and memory (MiB) for ``vcpus`` vCPUs."""
    if vcpus not in (1, 2, 4):
        raise ValueError(f"a gateway task has 1, 2 or 4 vCPUs, got {vcpus}")
    return TASK_CPU * vcpus, TASK_MEMORY_MIB * vcpus


class GatewayContainerService(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment_id: str,
        vpc: ec2.IVpc,
        key: kms.IKey,
        repository: ecr.IRepository,
        image_digest: str,
        desired_count: int,
        availability_zones: tuple[str, ...],
        listener: elbv2.ApplicationListener,
        alb_security_group: ec2.ISecurityGroup,
        environment: Mapping[str, str],
        drain_seconds: int,
        audit_queue: sqs.IQueue,
        secrets: tuple[secretsmanager.ISecret, ...],
        bedrock_arns: list[str],
        log_retention_days: int,
        # sizing.container_architecture; the image must hold its platform (checked at synth).
        architecture: str = "x86_64",
        # sizing.gateway_task_vcpus: the task's size, and as many server processes.
        vcpus: int = 1,
    ) -> None:
        super().__init__(scope, construct_id)
        if len(set(availability_zones)) < 2:
            raise ValueError("the gateway service runs in at least two availability zones")
        self.log_group = encrypted_log_group(
            self, "Logs", name=f"/regiongate/{deployment_id}/gateway-tasks", key=key, retention_days=log_retention_days
        )
        data_kinds.mark(self.log_group, data_kinds.GATEWAY_TASK_LOGS)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)

        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="regiongate gateway task: send audit events, read its two secrets, invoke configured models",
        )
        grant_send_to_encrypted_queue(audit_queue, key, self.task_role)
        for secret in secrets:
            secret.grant_read(self.task_role)
        statement = bedrock_statement(bedrock_arns)
        if statement is not None:
            self.task_role.add_to_policy(statement)
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="regiongate gateway task execution: pull from the in-region repository, write logs",
        )
        cpu, memory_mib = task_size(vcpus)
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=cpu,
            memory_limit_mib=memory_mib,
            task_role=self.task_role,
            execution_role=self.execution_role,
            runtime_platform=runtime_platform(architecture),
        )
        self.container = self.task_definition.add_container(
            "Gateway",
            # By digest, from this stack's own in-region repository: never a tag, never a public registry.
            image=ecs.ContainerImage.from_ecr_repository(repository, image_digest),
            command=list(COMMAND),
            port_mappings=[ecs.PortMapping(container_port=GATEWAY_PORT)],
            # regiongate.contract.environment.gateway_container_environment: the Lambda's variables + the document;
            # and one server process per vCPU.
            environment={**environment, **gateway_processes_environment(vcpus)},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="gateway", log_group=self.log_group),
            readonly_root_filesystem=True,
            stop_timeout=STOP_TIMEOUT,
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", HEALTH_COMMAND],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(30),
            ),
        )
        self.security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, description="regiongate gateway tasks", allow_all_outbound=False
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=desired_count,
            min_healthy_percent=100,
            max_healthy_percent=200,
            assign_public_ip=False,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="private", availability_zones=list(availability_zones)),
            security_groups=[self.security_group],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            enable_execute_command=False,
            health_check_grace_period=Duration.seconds(60),
        )
        self.target_group = listener.add_targets(
            "GatewayTasks",
            port=GATEWAY_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            health_check=elbv2.HealthCheck(
                path=HEALTH_PATH, healthy_http_codes="200", interval=Duration.seconds(15), healthy_threshold_count=2
            ),
            # A stream in flight on a task being replaced may run to the deployment's longest generation.
            deregistration_delay=Duration.seconds(drain_seconds),
        )
        self.security_group.add_ingress_rule(alb_security_group, ec2.Port.tcp(GATEWAY_PORT), "gateway from its ALB")
        alb_security_group.add_egress_rule(self.security_group, ec2.Port.tcp(GATEWAY_PORT), "to gateway tasks")

        # Nothing to pull yet (example or not-yet-mirrored image): no tasks, and autoscaling may not start any.
        running = desired_count > 0
        scaling = self.service.auto_scale_task_count(
            min_capacity=MIN_TASKS if running else 0, max_capacity=MAX_TASKS if running else 0
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        scaling.scale_on_request_count(
            "Requests", requests_per_target=REQUESTS_PER_TARGET_PER_MINUTE, target_group=self.target_group
        )

        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret settings (region code, the region document, port, queue URL, "
            "database host and name, the ARNs of the two secrets); the gateway reads the secrets itself.",
        )
        acknowledge(
            self.execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; image pulls are limited to this "
            "stack's own repository by the other statements.",
        )
        for action in KMS_GRANT_WILDCARDS:
            acknowledge(
                self.task_role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant for the stack's own KMS key (audit queue send / secret read); resource is that one key.",
            )
