"""One isolated region: a thin stack that wires one construct per capability."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration, Environment, Fn, Stack, Stage, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from regiongate.audit.infrastructure import AuditPipeline
from regiongate.config import gateway as gateway_config
from regiongate.config.regions import PROJECT_DIR, RegionConfig
from regiongate.config.tenants import image_deployment
from regiongate.console.infrastructure import ConsoleService, ImageRepository
from regiongate.contract import environment
from regiongate.contract.limits import DATABASE_PORT, REGION_DOCUMENT_PATH
from regiongate.gateway.container_infrastructure import MIN_TASKS as MIN_GATEWAY_TASKS
from regiongate.gateway.container_infrastructure import GatewayContainerService
from regiongate.gateway.infrastructure import Gateway, ProviderSecrets
from regiongate.infra import assets, database_tls
from regiongate.mirror.lock import ImagesLock, load_lock
from regiongate.monitoring.infrastructure import Monitoring
from regiongate.network import endpoint_policies
from regiongate.network.egress import egress_plan
from regiongate.network.infrastructure import Network
from regiongate.rotation.infrastructure import SecretRotation
from regiongate.shared_constructs.lambda_defaults import ARCHITECTURES, LambdaDefaults
from regiongate.shared_constructs.queue_grants import grant_send_to_encrypted_queue
from regiongate.shared_constructs.region_key import RegionKey, grant_assume_org_roles, grant_org_credentials
from regiongate.store.infrastructure import AuditStore

# Built by `make setup`: one layer per Lambda architecture (<arch>/python, wheels of gateway/lambda-requirements.txt).
LAMBDA_DEPS_DIR = PROJECT_DIR / "build" / "lambda-deps"
CONSOLE_IMAGE = "console"
GATEWAY_IMAGE = "gateway"  # gateway.runtime: container
# At least two tasks, one per Fargate zone.
CONSOLE_TASKS = 2
DATABASE_SECRET_ROTATION = Duration.days(30)


class RegionStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        region: RegionConfig,
        images_lock: ImagesLock | None = None,
        **kwargs,
    ) -> None:
        self.region_config = region
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=region.account, region=region.aws_region),
            description=f"regiongate {region.display_name}: isolated LLM gateway in {region.aws_region} ({region.geography})",
            termination_protection=True,
            **kwargs,
        )
        self.key = RegionKey(self, "Keys", deployment_id=region.deployment_id).key
        self.network = self._network(region)
        self.secrets = ProviderSecrets(self, "Secrets", deployment_id=region.deployment_id, key=self.key)
        self.audit_store = self._audit_store(region)
        self.lambdas = self._function_defaults(region)
        # Every variable name and fixed value comes from the contract the runtimes read them with.
        database_environment = environment.database_environment(
            host=self.audit_store.instance.db_instance_endpoint_address,
            secret_arn=self.audit_store.secret.secret_arn,
        )
        common_environment = environment.function_environment(
            code=region.code, database={**database_environment, **database_tls.function_environment(region)}
        )
        self.audit_pipeline = AuditPipeline(
            self, "AuditPipeline", key=self.key, lambdas=self.lambdas, environment=common_environment
        )
        self.gateway = Gateway(
            self,
            "Gateway",
            lambdas=self.lambdas,
            environment=environment.gateway_environment(
                common_environment,
                audit_queue_url=self.audit_pipeline.queue.queue_url,
                provider_secret_arn=self.secrets.provider_credentials.secret_arn,
                credentials_key_arn=self.key.key_arn,
            ),
            memory_mb=region.sizing.lambda_memory_mb,
            reserved_concurrency=region.sizing.reserved_concurrency,
            certificate_arn=region.certificate_arn,
            bedrock_grants=tuple(gateway_config.bedrock_grants(region)),
            runtime=gateway_config.deployment_runtime(region),
        )
        self.gateway.add_outputs(region.api_domain)
        self._connect_functions(region.code)
        # Rotated every 30 days; the gateway and writer read the secret again when the database rejects the
        # password they had (regiongate.store.connections).
        self.audit_store_rotation = SecretRotation(
            self,
            "AuditStoreRotation",
            lambdas=self.lambdas,
            secret=self.audit_store.credentials_secret,
            secret_attachment=self.audit_store.secret,
            database_security_group=self.audit_store.security_group,
            database_port=DATABASE_PORT,
            environment=environment.rotation_environment(common_environment),
            rotate_after=DATABASE_SECRET_ROTATION,
        )
        self._open_aws_apis(self.audit_store_rotation.security_group, "the secret rotation function")
        if self.network.endpoints is not None:
            # The first rotation runs when the schedule is created: Secrets Manager must be reachable by then.
            self.audit_store_rotation.schedule.node.add_dependency(self.network.endpoints)

        self.console: ConsoleService | None = None
        self.image_repositories: dict[str, ImageRepository] = {}
        if region.console:
            self.console = self._add_console(
                region, images_lock, self.key, self.network, self.audit_store, self.gateway, database_environment
            )
        # gateway.runtime: container: the gateway's ALB forwards to an ECS service instead of the function.
        self.gateway_service: GatewayContainerService | None = None
        if self.gateway.function is None:
            self.gateway_service = self._add_gateway_service(region, images_lock, database_environment)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            region_code=region.code,
            deployment_id=region.deployment_id,
            key=self.key,
            emails=region.alarms.email,
            database=self.audit_store.instance,
            allocated_storage_gb=region.sizing.db_allocated_storage_gb,
            dead_letter_alarm=self.audit_pipeline.dead_letter_alarm,
            console_targets=self.console.target_group if self.console is not None else None,
            gateway_tasks=self.gateway_service.service if self.gateway_service is not None else None,
            gateway_targets=self.gateway_service.target_group if self.gateway_service is not None else None,
        )
        if region.hosted_zone:
            self._add_dns(region, self.gateway)
        if self.network.endpoints is not None:
            endpoint_policies.limit_to_stack(
                self.network.endpoints,
                queues=(self.audit_pipeline.queue, self.audit_pipeline.dead_letter_queue),
                secrets=(self.secrets.provider_credentials, self.audit_store.credentials_secret),
                key=self.key,
                log_group_prefix=self._log_prefix(region),
                repositories=tuple(r.repository for r in self.image_repositories.values()),
                bedrock_arns=self.gateway.bedrock_arns,
                org_bedrock_arns=self.gateway.org_bedrock_arns,
            )
        self._describe(region, construct_id)

    # --- the constructs, each from its typed values ---------------------------------------------------------
    def _network(self, region: RegionConfig) -> Network:
        return Network(
            self,
            "Network",
            availability_zones=region.availability_zones,
            cidr=region.sizing.vpc_cidr,
            nat_gateways=region.sizing.nat_gateways,
            key=self.key,
            log_retention_days=region.sizing.log_retention_days,
            log_group_name=f"{self._log_prefix(region)}/vpc-flow-logs",
            plan=egress_plan(region),
            name=f"regiongate-{region.deployment_id}",
            dns_log_group_name=f"{self._log_prefix(region)}/dns-queries",
        )

    def _audit_store(self, region: RegionConfig) -> AuditStore:
        sizing = region.sizing
        return AuditStore(
            self,
            "AuditStore",
            deployment_id=region.deployment_id,
            vpc=self.network.vpc,
            key=self.key,
            instance_class=sizing.db_instance_class,
            multi_az=sizing.db_multi_az,
            allocated_storage_gb=sizing.db_allocated_storage_gb,
            backup_retention_days=sizing.db_backup_retention_days,
            log_retention_days=sizing.log_retention_days,
            memory_content=gateway_config.runtime_config(region).memory is not None,
        )

    def _function_defaults(self, region: RegionConfig) -> LambdaDefaults:
        """What every function shares: the runtime code, the dependency layer and the region's document layer."""
        outdir = self._outdir()
        document_layer = assets.stage_region_document(
            outdir,
            region.deployment_id,
            gateway_config.runtime_document(region),
            REGION_DOCUMENT_PATH.removeprefix("/opt/"),
        )
        # A CA bundle named in regions.yaml rides in the same layer (the commercial one is in the code asset).
        database_tls.stage_layer_bundle(document_layer, region)
        return LambdaDefaults(
            code=lambda_.Code.from_asset(str(assets.stage_function_code(outdir))),
            layers=(
                lambda_.LayerVersion(
                    self,
                    "Dependencies",
                    code=lambda_.Code.from_asset(
                        str(assets.dependency_layer_dir(LAMBDA_DEPS_DIR, region.sizing.lambda_architecture))
                    ),
                    compatible_architectures=[ARCHITECTURES[region.sizing.lambda_architecture]],
                    description=f"Dependencies of the regiongate functions (gateway/lambda-requirements.txt), "
                    f"{region.sizing.lambda_architecture}",
                ),
                lambda_.LayerVersion(
                    self,
                    "RegionConfig",
                    code=lambda_.Code.from_asset(str(document_layer)),
                    description=f"regiongate {region.display_name} runtime configuration ({REGION_DOCUMENT_PATH})",
                ),
            ),
            vpc=self.network.vpc,
            key=self.key,
            architecture=region.sizing.lambda_architecture,
            log_retention_days=region.sizing.log_retention_days,
            log_group_prefix=self._log_prefix(region),
        )

    def _connect_functions(self, region_code: str) -> None:
        """Who may talk to whom, and who may read what."""
        store, gateway, pipeline = self.audit_store, self.gateway, self.audit_pipeline
        lambda_gateway = gateway.function is not None  # else the container service connects itself
        for client in (
            (gateway.security_group, pipeline.security_group) if lambda_gateway else (pipeline.security_group,)
        ):
            store.security_group.add_ingress_rule(
                client, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL from regiongate functions"
            )
            client.add_egress_rule(store.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL audit store")
        self._open_aws_apis(pipeline.security_group, "the audit writer")
        store.secret.grant_read(pipeline.writer)
        if gateway.function is None:
            return
        # The gateway alone reaches providers outside AWS (or Bedrock in another inference region) through the NAT.
        self._open_aws_apis(gateway.security_group, "the gateway", internet=self.network.plan.gateway_needs_internet)
        grant_send_to_encrypted_queue(pipeline.queue, self.key, gateway.function)
        self.secrets.provider_credentials.grant_read(gateway.function)
        # Orgs' own provider credentials: open (never seal) this region's, assume the orgs' Bedrock roles.
        grant_org_credentials(self.key, gateway.function, region_code=region_code, seal=False)
        grant_assume_org_roles(gateway.function)
        # Both functions sign in with the generated database credentials (TLS forced by the parameter group).
        store.secret.grant_read(gateway.function)

    def _open_aws_apis(self, client: ec2.ISecurityGroup, description: str, *, internet: bool = False) -> None:
        """HTTPS from ``client`` to the stack's VPC endpoints; to 0.0.0.0/0 (the NAT, behind the DNS firewall) only
        when ``internet`` or when the stack has no endpoints."""
        if self.network.endpoints is not None:
            self.network.endpoints.allow_from(client, description)
        if internet or self.network.endpoints is None:
            client.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(443),
                "HTTPS through the NAT, to the names the VPC DNS firewall allows",
            )

    def _describe(self, region: RegionConfig, construct_id: str) -> None:
        """Template metadata read back by `regiongate summary` and the residency report from cdk.out alone; tags."""
        self.template_options.metadata = {
            "regiongate": {
                "region_code": region.code,
                "deployment_id": region.deployment_id,
                "aws_region": region.aws_region,
                "partition": region.partition,
                "geography": region.geography,
                "inference_regions": list(region.inference_regions),
                "api_domain": region.api_domain,
                "console_domain": region.console_domain,
            }
        }
        for tag_key, tag_value in (
            ("regiongate:geography", region.geography),
            ("regiongate:region-code", region.code),
            ("regiongate:stack", construct_id),
        ):
            Tags.of(self).add(tag_key, tag_value)

    @staticmethod
    def _log_prefix(region: RegionConfig) -> str:
        return f"/regiongate/{region.deployment_id}"

    def _add_console(self, region, images_lock, key, network, store, gateway, database_environment) -> ConsoleService:
        if images_lock is None:
            images_lock = load_lock()
        # A single-tenant stack has a repository of its own, so it can share an account with the Cn stack.
        deployment = image_deployment(region)
        repository_name = images_lock.repository_for(CONSOLE_IMAGE, deployment)
        repository = ImageRepository(self, "ConsoleImages", repository_name=repository_name, key=key)
        self.image_repositories[CONSOLE_IMAGE] = repository
        image = images_lock.images.get(CONSOLE_IMAGE)
        example_image = image is not None and image.is_example
        # The pinned digest is not in this deployment's repository yet (it is created by the first deploy).
        not_mirrored = not example_image and not images_lock.in_repository(CONSOLE_IMAGE, deployment, region.aws_region)
        # Refuses a task architecture the pinned image does not hold, naming the command that fixes it.
        architecture = region.sizing.container_architecture
        images_lock.require_platform(CONSOLE_IMAGE, architecture, deployment, region.aws_region)
        console = ConsoleService(
            self,
            "Console",
            deployment_id=region.deployment_id,
            vpc=network.vpc,
            key=key,
            repository=repository.repository,
            image_digest=images_lock.pinned_digest(CONSOLE_IMAGE, deployment, region.aws_region),
            # An example digest can never be pulled: deploy the service without tasks until the image is
            # mirrored (the first deploy creates the repository `regiongate mirror` pushes into).
            desired_count=0 if example_image or not_mirrored else CONSOLE_TASKS,
            availability_zones=region.console_availability_zones,
            certificate_arn=region.console_certificate_arn,
            access_logs=gateway.access_logs,
            database_secret=store.credentials_secret,
            # The functions' document, in the task's environment: the image reads no catalogue of its own.
            environment=environment.console_environment(
                region=gateway_config.runtime_config(region),
                database={**database_environment, **database_tls.console_environment(region)},
                credentials_key_arn=key.key_arn,
            ),
            log_retention_days=region.sizing.log_retention_days,
            oidc=region.console_oidc,
            console_domain=region.console_domain,
            architecture=architecture,
        )
        grant_org_credentials(key, console.task_role, region_code=region.code, seal=True)  # seals, never opens
        if example_image:
            Annotations.of(console).add_warning_v2(
                "regiongate:example-image",
                f"images.lock.yaml pins an example console image ({image.source}): the console service is "
                "deployed with 0 tasks. Run `regiongate mirror` (docs/mirror.md), then deploy again.",
            )
        elif not_mirrored:
            Annotations.of(console).add_warning_v2(
                "regiongate:image-not-mirrored",
                f"{images_lock.pinned_digest(CONSOLE_IMAGE)} is not in {repository_name} yet: the console "
                "service is deployed with 0 tasks. After this deploy created the repository, run "
                f"`{images_lock.mirror_command(CONSOLE_IMAGE, deployment, region.aws_region)}`, then deploy again.",
            )
        store.security_group.add_ingress_rule(
            console.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL from the console"
        )
        console.security_group.add_egress_rule(
            store.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL audit store"
        )
        # Its identity provider (console_oidc) through the NAT, by name behind the DNS firewall.
        self._open_aws_apis(
            console.security_group, "the console tasks", internet=self.network.plan.console_needs_internet
        )
        CfnOutput(self, "ConsoleUrl", value=f"https://{region.console_domain}/", description="regional console")
        return console

    def _add_gateway_service(
        self, region: RegionConfig, images_lock: ImagesLock | None, database_environment: dict[str, str]
    ) -> GatewayContainerService:
        """The gateway image on ECS Fargate behind the gateway's ALB, wired like the function it replaces."""
        if images_lock is None:
            images_lock = load_lock()
        deployment = image_deployment(region)
        repository_name = images_lock.repository_for(GATEWAY_IMAGE, deployment)
        repository = ImageRepository(self, "GatewayImages", repository_name=repository_name, key=self.key)
        self.image_repositories[GATEWAY_IMAGE] = repository
        # Refuses an image that is not in the lock, naming the `regiongate mirror` command that adds it.
        digest = images_lock.pinned_digest(GATEWAY_IMAGE, deployment, region.aws_region)
        architecture = region.sizing.container_architecture
        images_lock.require_platform(GATEWAY_IMAGE, architecture, deployment, region.aws_region)
        image = images_lock.images[GATEWAY_IMAGE]
        not_mirrored = not image.is_example and not images_lock.in_repository(
            GATEWAY_IMAGE, deployment, region.aws_region
        )
        runtime = gateway_config.deployment_runtime(region)
        function_environment = environment.function_environment(
            code=region.code,
            # The image lays out /app like the console's: the CA bundles are at the same path in both.
            database={**database_environment, **database_tls.console_environment(region)},
        )
        service = GatewayContainerService(
            self,
            "GatewayService",
            deployment_id=region.deployment_id,
            vpc=self.network.vpc,
            key=self.key,
            repository=repository.repository,
            image_digest=digest,
            # An example digest can never be pulled, and a mirrored one only once this deploy created the
            # repository: no tasks until then.
            desired_count=0 if image.is_example or not_mirrored else MIN_GATEWAY_TASKS,
            # The zones Fargate runs in (in cn-north-1 only two AZ ids have it): the console's, two by default.
            availability_zones=region.console_availability_zones,
            listener=self.gateway.https_listener,
            alb_security_group=self.gateway.alb_security_group,
            environment=environment.gateway_container_environment(
                environment.gateway_environment(
                    function_environment,
                    audit_queue_url=self.audit_pipeline.queue.queue_url,
                    provider_secret_arn=self.secrets.provider_credentials.secret_arn,
                    credentials_key_arn=self.key.key_arn,
                ),
                region=gateway_config.runtime_config(region),
            ),
            drain_seconds=runtime.drain_seconds,
            audit_queue=self.audit_pipeline.queue,
            secrets=(self.secrets.provider_credentials, self.audit_store.secret),
            bedrock_arns=self.gateway.bedrock_arns,
            log_retention_days=region.sizing.log_retention_days,
            architecture=architecture,
            vcpus=region.sizing.gateway_task_vcpus,
        )
        if image.is_example:
            Annotations.of(service).add_warning_v2(
                "regiongate:example-image",
                f"images.lock.yaml pins an example gateway image ({image.source}): the gateway service is deployed "
                "with 0 tasks and the API answers 503. Run `regiongate mirror` (docs/mirror.md), then deploy again.",
            )
        elif not_mirrored:
            Annotations.of(service).add_warning_v2(
                "regiongate:image-not-mirrored",
                f"{digest} is not in {repository_name} yet: the gateway service is deployed with 0 tasks. After this "
                f"deploy created the repository, run `{images_lock.mirror_command(GATEWAY_IMAGE, deployment, region.aws_region)}`, "
                "then deploy again.",
            )
        store = self.audit_store
        store.security_group.add_ingress_rule(
            service.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL from the gateway tasks"
        )
        service.security_group.add_egress_rule(
            store.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL audit store"
        )
        self._open_aws_apis(
            service.security_group, "the gateway tasks", internet=self.network.plan.gateway_needs_internet
        )
        grant_org_credentials(self.key, service.task_role, region_code=region.code, seal=False)
        grant_assume_org_roles(service.task_role)
        return service

    def _add_dns(self, region: RegionConfig, gateway: Gateway) -> None:
        """Aliases only to this stack's own load balancers (in China, Route 53 aliases must stay in China)."""
        zone = route53.PublicHostedZone(self, "HostedZone", zone_name=region.hosted_zone)
        targets = [(region.api_domain, gateway.load_balancer)]
        if self.console is not None:
            targets.append((region.console_domain, self.console.load_balancer))
        for index, (domain, load_balancer) in enumerate(targets):
            route53.ARecord(
                self,
                f"Alias{index}",
                zone=zone,
                record_name=domain,
                target=route53.RecordTarget.from_alias(route53_targets.LoadBalancerTarget(load_balancer)),
            )
        CfnOutput(self, "NameServers", value=Fn.join(",", zone.hosted_zone_name_servers or []))

    def _outdir(self) -> str:
        return Stage.of(self).outdir  # type: ignore[union-attr]  # every RegionStack lives in an App

    @property
    def availability_zones(self) -> list[str]:
        """The configured zones: CDK would otherwise look them up in the account (needs credentials)."""
        return list(self.region_config.availability_zones)
