"""One isolated region: a thin stack that wires one construct per capability."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, CfnOutput, Duration, Environment, Fn, Stack, Stage, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from regiongate.audit.infrastructure import AuditPipeline
from regiongate.config import gateway as gateway_config
from regiongate.config.regions import PROJECT_DIR, RegionConfig
from regiongate.console.infrastructure import ConsoleService, ImageRepository
from regiongate.contract import environment
from regiongate.contract.limits import DATABASE_PORT, REGION_DOCUMENT_PATH
from regiongate.gateway.infrastructure import Gateway, ProviderSecrets
from regiongate.infra import assets
from regiongate.mirror.lock import ImagesLock, load_lock
from regiongate.network.infrastructure import Network
from regiongate.rotation.infrastructure import SecretRotation
from regiongate.shared_constructs.lambda_defaults import LambdaDefaults
from regiongate.shared_constructs.region_key import RegionKey
from regiongate.store.infrastructure import AuditStore

# Built by `make setup` (pure-Python wheels of gateway/lambda-requirements.txt).
LAMBDA_DEPS_DIR = PROJECT_DIR / "build" / "lambda-deps"
CONSOLE_IMAGE = "console"
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
        common_environment = environment.function_environment(code=region.code, database=database_environment)
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
            ),
            memory_mb=region.sizing.lambda_memory_mb,
            reserved_concurrency=region.sizing.reserved_concurrency,
            certificate_arn=region.certificate_arn,
            bedrock_grants=tuple(gateway_config.bedrock_grants(region)),
        )
        self.gateway.add_outputs(region.api_domain)
        self._connect_functions()
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

        self.console: ConsoleService | None = None
        self.image_repositories: dict[str, ImageRepository] = {}
        if region.console:
            self.console = self._add_console(
                region, images_lock, self.key, self.network, self.audit_store, self.gateway, database_environment
            )
        if region.hosted_zone:
            self._add_dns(region, self.gateway)
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
        return LambdaDefaults(
            code=lambda_.Code.from_asset(str(assets.stage_function_code(outdir))),
            layers=(
                lambda_.LayerVersion(
                    self,
                    "Dependencies",
                    code=lambda_.Code.from_asset(str(_required_dir(LAMBDA_DEPS_DIR))),
                    description="Pure-Python dependencies of the regiongate functions (gateway/lambda-requirements.txt)",
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

    def _connect_functions(self) -> None:
        """Who may talk to whom, and who may read what."""
        store, gateway, pipeline = self.audit_store, self.gateway, self.audit_pipeline
        for client in (gateway.security_group, pipeline.security_group):
            store.security_group.add_ingress_rule(
                client, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL from regiongate functions"
            )
            client.add_egress_rule(store.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL audit store")
            # AWS APIs (SQS, Secrets Manager, KMS) and in-region providers are reached over HTTPS via the NAT.
            client.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to in-region AWS APIs and providers")
        pipeline.queue.grant_send_messages(gateway.function)
        self.secrets.provider_credentials.grant_read(gateway.function)
        # Both functions sign in with the generated database credentials (TLS forced by the parameter group).
        for function in (gateway.function, pipeline.writer):
            store.secret.grant_read(function)

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
        repository = ImageRepository(
            self, "ConsoleImages", repository_name=images_lock.repository_for(CONSOLE_IMAGE), key=key
        )
        self.image_repositories[CONSOLE_IMAGE] = repository
        image = images_lock.images.get(CONSOLE_IMAGE)
        example_image = image is not None and image.is_example
        console = ConsoleService(
            self,
            "Console",
            deployment_id=region.deployment_id,
            vpc=network.vpc,
            key=key,
            repository=repository.repository,
            image_digest=images_lock.digest_for(CONSOLE_IMAGE),
            # An example digest can never be pulled: deploy the service without tasks until the image is
            # mirrored (the first deploy creates the repository `regiongate mirror` pushes into).
            desired_count=0 if example_image else CONSOLE_TASKS,
            availability_zones=region.console_availability_zones,
            certificate_arn=region.console_certificate_arn,
            access_logs=gateway.access_logs,
            database_secret=store.credentials_secret,
            # The functions' document, in the task's environment: the image reads no catalogue of its own.
            environment=environment.console_environment(
                region=gateway_config.runtime_config(region), database=database_environment
            ),
            log_retention_days=region.sizing.log_retention_days,
        )
        if example_image:
            Annotations.of(console).add_warning_v2(
                "regiongate:example-image",
                f"images.lock.yaml pins an example console image ({image.source}): the console service is "
                "deployed with 0 tasks. Run `regiongate mirror` (docs/mirror.md), then deploy again.",
            )
        store.security_group.add_ingress_rule(
            console.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL from the console"
        )
        console.security_group.add_egress_rule(
            store.security_group, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL audit store"
        )
        console.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to in-region AWS APIs")
        CfnOutput(self, "ConsoleUrl", value=f"https://{region.console_domain}/", description="regional console")
        return console

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


def _required_dir(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: run `make setup` (it builds the Lambda dependency layer)")
    return path
