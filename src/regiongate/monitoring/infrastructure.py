"""Alarms that reach someone, and a dashboard, per stack.

Every alarm notifies one SNS topic of the stack's own, encrypted with the stack's KMS key, with the optional
e-mail subscribers of regions.yaml or the tenant file (``alarms.email``). The gateway's metrics are the embedded-metric-format
lines its runtime writes (``regiongate.gateway.runtime.metrics``), in the namespace and with the names of
``regiongate.contract.metrics``; the database's and the console's are the services' own.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from regiongate.contract import metrics as names

PERIOD = Duration.seconds(names.ALARM_PERIOD_SECONDS)
GIB = 1024**3
# ECS Container Insights (enabled on the container gateway's cluster): the service's task counts.
CONTAINER_INSIGHTS_NAMESPACE = "ECS/ContainerInsights"
RUNNING_TASKS = "RunningTaskCount"
DESIRED_TASKS = "DesiredTaskCount"


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        region_code: str,
        deployment_id: str,
        key: kms.IKey,
        emails: tuple[str, ...],
        database: rds.DatabaseInstance,
        allocated_storage_gb: int,
        dead_letter_alarm: cloudwatch.Alarm,
        console_targets: elbv2.ApplicationTargetGroup | None = None,
        gateway_tasks: ecs.FargateService | None = None,
        gateway_targets: elbv2.ApplicationTargetGroup | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"regiongate {deployment_id} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # E-mail only: the operator's recipients (an ARN subscriber would have to be in region, see RULES.md).
        self.email_subscription_constructs: list[Construct] = [
            self.topic.add_subscription(subscriptions.EmailSubscription(address)) for address in emails
        ]
        self.action = actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        def gateway(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=names.NAMESPACE,
                metric_name=name,
                dimensions_map={names.DIMENSION_REGION: region_code},
                statistic=statistic,
                period=PERIOD,
            )

        requests, errors = gateway(names.REQUESTS, "Sum"), gateway(names.ERRORS_5XX, "Sum")
        error_rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={"requests": requests, "errors": errors},
            label="5xx (% of requests)",
            period=PERIOD,
        )
        self._alarm(
            "Gateway5xxRate",
            error_rate,
            names.ERROR_5XX_RATE_PERCENT,
            "More than 5 % of the gateway's requests failed with a 5xx for 15 minutes",
            evaluation_periods=3,
        )
        latency = gateway(names.LATENCY, "p99")
        self._alarm(
            "GatewayP99Latency",
            latency,
            names.P99_LATENCY_MS,
            "The gateway's p99 latency (its own time and the provider's) is above 30 s for 15 minutes",
            evaluation_periods=3,
        )
        throttles = gateway(names.THROTTLES, "Sum")
        self._alarm(
            "GatewayThrottles",
            throttles,
            names.THROTTLES_PER_PERIOD,
            "More than 100 requests in 5 minutes were answered 429 (the gateway's rate limits and budgets, or "
            "the provider's)",
        )
        dead_letter_alarm.add_alarm_action(self.action)
        self.alarms["AuditDeadLetters"] = dead_letter_alarm
        self._alarm(
            "DatabaseCpu",
            database.metric_cpu_utilization(period=PERIOD, statistic="Average"),
            names.DATABASE_CPU_PERCENT,
            "The audit store's CPU is above 80 % for 15 minutes",
            evaluation_periods=3,
        )
        free_storage = database.metric_free_storage_space(period=PERIOD, statistic="Minimum")
        self._alarm(
            "DatabaseFreeStorage",
            free_storage,
            int(allocated_storage_gb * GIB * names.DATABASE_FREE_STORAGE_FRACTION),
            "The audit store has less than 10 % of its storage free",
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        )
        connections = database.metric_database_connections(period=PERIOD, statistic="Maximum")
        self._alarm(
            "DatabaseConnections",
            connections,
            names.DATABASE_CONNECTIONS,
            "The audit store has more than 200 connections",
        )
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(title="Gateway requests and 5xx", left=[requests, errors], right=[error_rate]),
            cloudwatch.GraphWidget(
                title="Gateway latency (ms)",
                left=[latency, gateway(names.LATENCY, "p50"), gateway(names.UPSTREAM_LATENCY, "p99")],
            ),
            cloudwatch.GraphWidget(
                title="Tokens and cost",
                left=[gateway(names.INPUT_TOKENS, "Sum"), gateway(names.OUTPUT_TOKENS, "Sum")],
                right=[gateway(names.COST_USD, "Sum")],
            ),
            cloudwatch.GraphWidget(title="429s and 4xx", left=[throttles, gateway(names.ERRORS_4XX, "Sum")]),
            cloudwatch.GraphWidget(title="Audit store", left=[connections], right=[free_storage]),
        ]
        if console_targets is not None:
            unhealthy = console_targets.metrics.unhealthy_host_count(period=PERIOD, statistic="Maximum")
            self._alarm(
                "ConsoleUnhealthyTasks",
                unhealthy,
                0,
                "A console task fails its load balancer health check for 15 minutes",
                evaluation_periods=3,
            )
            widgets.append(
                cloudwatch.GraphWidget(
                    title="Console tasks",
                    left=[unhealthy, console_targets.metrics.healthy_host_count(period=PERIOD, statistic="Minimum")],
                )
            )
        if gateway_tasks is not None and gateway_targets is not None:
            widgets.append(self._gateway_task_alarms(gateway_tasks, gateway_targets))
        widgets.append(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24))
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"regiongate-{deployment_id}",
            widgets=[widgets[i : i + 2] for i in range(0, len(widgets), 2)],
        )

    def _gateway_task_alarms(
        self, service: ecs.FargateService, targets: elbv2.ApplicationTargetGroup
    ) -> cloudwatch.IWidget:
        """gateway.runtime: container: fewer tasks running than the service wants (Container Insights, enabled
        on the gateway's cluster), and tasks failing the load balancer's health check, each for 15 minutes."""

        def insights(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=CONTAINER_INSIGHTS_NAMESPACE,
                metric_name=name,
                dimensions_map={"ClusterName": service.cluster.cluster_name, "ServiceName": service.service_name},
                statistic="Minimum" if name == RUNNING_TASKS else "Maximum",
                period=PERIOD,
            )

        running, desired = insights(RUNNING_TASKS), insights(DESIRED_TASKS)
        missing = cloudwatch.MathExpression(
            expression="IF(desired > running, desired - running, 0)",
            using_metrics={"desired": desired, "running": running},
            label="tasks missing (desired - running)",
            period=PERIOD,
        )
        self._alarm(
            "GatewayTasksMissing",
            missing,
            0,
            "Fewer gateway tasks are running than the service wants for 15 minutes (tasks failing to start or "
            "stopping: images, capacity, the database)",
            evaluation_periods=3,
        )
        unhealthy = targets.metrics.unhealthy_host_count(period=PERIOD, statistic="Maximum")
        self._alarm(
            "GatewayUnhealthyTasks",
            unhealthy,
            0,
            "A gateway task fails its load balancer health check for 15 minutes",
            evaluation_periods=3,
        )
        return cloudwatch.GraphWidget(
            title="Gateway tasks",
            left=[running, desired],
            right=[unhealthy, targets.metrics.healthy_host_count(period=PERIOD, statistic="Minimum")],
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms[name] = alarm
        return alarm
