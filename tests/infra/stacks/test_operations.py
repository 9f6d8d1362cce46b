"""Operations on the templates: every alarm (its metric, threshold and action → the stack's alarm topic), the
topic (encrypted with the stack's key, e-mail subscriptions only, from regions.yaml / the tenant file) and one
dashboard per stack. Thresholds and metric names come from regiongate.contract.metrics, which the gateway's
EMF lines use too."""

from __future__ import annotations

import json

import pytest

from regiongate.contract import metrics as names
from tests.fixtures.synth import SYNTHESIZED_STACKS, synthesized_stack
from tests.infra.stacks.test_region_stacks import only, own_key_ref, resources

GATEWAY_ALARMS = {
    "Gateway5xxRate": names.ERROR_5XX_RATE_PERCENT,
    "GatewayP99Latency": names.P99_LATENCY_MS,
    "GatewayThrottles": names.THROTTLES_PER_PERIOD,
}


@pytest.fixture(params=SYNTHESIZED_STACKS)
def any_stack(request, synthesized_app):
    return synthesized_stack(synthesized_app, request.param)


ALARM_NAMES = (
    *GATEWAY_ALARMS,
    "DatabaseCpu",
    "DatabaseFreeStorage",
    "DatabaseConnections",
    "ConsoleUnhealthyTasks",
    "GatewayTasksMissing",
    "GatewayUnhealthyTasks",
)


def _alarms(s) -> dict[str, dict]:
    """Alarm properties by construct name: Monitoring<Name><hash>, and the audit pipeline's DeadLetterAlarm."""
    found = {}
    for logical_id, resource in resources(s, "AWS::CloudWatch::Alarm").items():
        [name] = [
            n
            for n in (*ALARM_NAMES, "DeadLetterAlarm")
            if logical_id.startswith(("Monitoring" + n, "AuditPipeline" + n))
        ]
        found[name] = resource["Properties"]
    return found


def _topic_ref(s) -> dict:
    (topic_id,) = resources(s, "AWS::SNS::Topic")
    return {"Ref": topic_id}


def test_every_alarm_notifies_the_stacks_own_topic(any_stack):
    alarms = _alarms(any_stack)
    expected = {*GATEWAY_ALARMS, "DeadLetterAlarm", "DatabaseCpu", "DatabaseFreeStorage", "DatabaseConnections"}
    if any_stack.stack.console is not None:
        expected.add("ConsoleUnhealthyTasks")
    if any_stack.stack.gateway_service is not None:
        expected |= {"GatewayTasksMissing", "GatewayUnhealthyTasks"}
    assert set(alarms) == expected
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [_topic_ref(any_stack)], name
        assert alarm["AlarmDescription"], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_gateway_alarms_watch_the_emf_metrics_of_the_region(any_stack):
    alarms, code = _alarms(any_stack), any_stack.region.code
    for name, threshold in GATEWAY_ALARMS.items():
        assert alarms[name]["Threshold"] == threshold
    rate = alarms["Gateway5xxRate"]
    assert (rate["ComparisonOperator"], rate["EvaluationPeriods"]) == ("GreaterThanThreshold", 3)
    [expression] = [m for m in rate["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    stats = {m["Id"]: m["MetricStat"] for m in rate["Metrics"] if "MetricStat" in m}
    assert {i: s["Metric"]["MetricName"] for i, s in stats.items()} == {"requests": "Requests", "errors": "Errors5xx"}
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == names.NAMESPACE
        assert stat["Metric"]["Dimensions"] == [{"Name": "Region", "Value": code}]
        assert (stat["Stat"], stat["Period"]) == ("Sum", names.ALARM_PERIOD_SECONDS)
    latency = alarms["GatewayP99Latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Namespace"]) == (
        "Latency",
        "p99",
        names.NAMESPACE,
    )
    throttles = alarms["GatewayThrottles"]
    assert (throttles["MetricName"], throttles["Statistic"]) == ("Throttles", "Sum")
    assert throttles["Dimensions"] == [{"Name": "Region", "Value": code}]


def test_database_dlq_and_console_alarms(any_stack):
    alarms = _alarms(any_stack)
    (db_id,) = resources(any_stack, "AWS::RDS::DBInstance")
    for name, metric, statistic, operator in (
        ("DatabaseCpu", "CPUUtilization", "Average", "GreaterThanThreshold"),
        ("DatabaseFreeStorage", "FreeStorageSpace", "Minimum", "LessThanThreshold"),
        ("DatabaseConnections", "DatabaseConnections", "Maximum", "GreaterThanThreshold"),
    ):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/RDS", metric, statistic)
        assert alarm["ComparisonOperator"] == operator
        assert alarm["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": {"Ref": db_id}}]
    assert alarms["DatabaseCpu"]["Threshold"] == names.DATABASE_CPU_PERCENT
    assert alarms["DatabaseConnections"]["Threshold"] == names.DATABASE_CONNECTIONS
    storage = any_stack.region.sizing.db_allocated_storage_gb * 1024**3
    assert alarms["DatabaseFreeStorage"]["Threshold"] == int(storage * names.DATABASE_FREE_STORAGE_FRACTION)
    dlq = alarms["DeadLetterAlarm"]
    assert (dlq["Namespace"], dlq["MetricName"], dlq["Threshold"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        0,
    )
    if any_stack.stack.console is not None:
        console = alarms["ConsoleUnhealthyTasks"]
        assert (console["Namespace"], console["MetricName"], console["Threshold"]) == (
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            0,
        )


def test_the_topic_is_encrypted_with_the_stack_key_and_has_e_mail_subscribers_only(any_stack):
    topic = only(any_stack, "AWS::SNS::Topic")["Properties"]
    assert topic["KmsMasterKeyId"] == own_key_ref(any_stack)
    subscriptions = resources(any_stack, "AWS::SNS::Subscription")
    configured = any_stack.region.alarms.email
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == sorted(configured)
    for subscription in subscriptions.values():
        assert subscription["Properties"]["Protocol"] == "email"
        assert subscription["Properties"]["TopicArn"] == _topic_ref(any_stack)


def test_one_dashboard_per_stack_with_the_gateway_metrics(any_stack):
    dashboard = only(any_stack, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == f"regiongate-{any_stack.region.deployment_id}"
    body = json.dumps(dashboard["DashboardBody"])
    for metric in (names.REQUESTS, names.ERRORS_5XX, names.LATENCY, names.UPSTREAM_LATENCY, names.COST_USD):
        assert metric in body
    assert names.NAMESPACE in body


def test_the_container_gateway_alarms_on_missing_and_unhealthy_tasks(any_stack):
    service = any_stack.stack.gateway_service
    alarms = _alarms(any_stack)
    if service is None:
        assert not {"GatewayTasksMissing", "GatewayUnhealthyTasks"} & set(alarms)
        return
    missing = alarms["GatewayTasksMissing"]
    assert (missing["Threshold"], missing["EvaluationPeriods"], missing["ComparisonOperator"]) == (
        0,
        3,
        "GreaterThanThreshold",
    )
    expressions = [q for q in missing["Metrics"] if "Expression" in q]
    assert [(q["Expression"], q["ReturnData"]) for q in expressions] == [
        ("IF(desired > running, desired - running, 0)", True)
    ]
    stats = {q["Id"]: q["MetricStat"] for q in missing["Metrics"] if "MetricStat" in q}
    assert {k: (v["Metric"]["Namespace"], v["Metric"]["MetricName"], v["Stat"]) for k, v in stats.items()} == {
        "desired": ("ECS/ContainerInsights", "DesiredTaskCount", "Maximum"),
        "running": ("ECS/ContainerInsights", "RunningTaskCount", "Minimum"),
    }
    (cluster_id,) = [c for c in resources(any_stack, "AWS::ECS::Cluster") if c.startswith("GatewayService")]
    (service_id,) = [c for c in resources(any_stack, "AWS::ECS::Service") if c.startswith("GatewayService")]
    for stat in stats.values():
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert dimensions == {
            "ClusterName": {"Ref": cluster_id},
            "ServiceName": {"Fn::GetAtt": [service_id, "Name"]},
        }
    unhealthy = alarms["GatewayUnhealthyTasks"]
    assert (unhealthy["Namespace"], unhealthy["MetricName"], unhealthy["Threshold"]) == (
        "AWS/ApplicationELB",
        "UnHealthyHostCount",
        0,
    )
    (target_group,) = [d["Value"] for d in unhealthy["Dimensions"] if d["Name"] == "TargetGroup"]
    (group_id,) = [g for g in resources(any_stack, "AWS::ElasticLoadBalancingV2::TargetGroup") if "GatewayTasks" in g]
    assert target_group == {"Fn::GetAtt": [group_id, "TargetGroupFullName"]}
