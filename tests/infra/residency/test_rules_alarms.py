"""AlarmActionsInRegion: alarms notify only a topic of the same stack, and that topic's subscribers are in
region (or e-mail, accepted). One failing and one passing stack."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from regiongate.residency.rules import alarm_actions_in_region
from tests.fixtures.residency import CN, EU, EU_ACCOUNT, failing, passing, synth


def _alarm(stack, name: str) -> cloudwatch.Alarm:
    metric = cloudwatch.Metric(namespace="RegionGate", metric_name="Errors", period=Duration.minutes(1))
    return cloudwatch.Alarm(stack, name, metric=metric, threshold=1, evaluation_periods=1)


def test_alarm_actions_elsewhere_and_alarm_topic_subscribers_outside_aws_fail():
    us_topic = f"arn:aws:sns:us-east-1:{EU_ACCOUNT}:alarms"
    other_account = "arn:aws:sns:eu-central-1:999999999999:alarms"
    china = f"arn:aws-cn:sns:eu-central-1:{EU_ACCOUNT}:alarms"

    def build(stack):
        alarm = _alarm(stack, "Far")
        for index, arn in enumerate((us_topic, other_account, china)):
            alarm.add_alarm_action(actions.SnsAction(sns.Topic.from_topic_arn(stack, f"T{index}", arn)))
        _alarm(stack, "Ec2").add_ok_action(
            actions.Ec2Action(actions.Ec2InstanceAction.STOP)
        )  # an in-region action, but not a topic: no one is told
        topic = sns.Topic(stack, "Alarms")
        _alarm(stack, "Own").add_alarm_action(actions.SnsAction(topic))
        sns.Subscription(stack, "Hook", topic=topic, protocol=sns.SubscriptionProtocol.HTTPS, endpoint="https://x.io/a")
        far_queue = f"arn:aws:sqs:us-east-1:{EU_ACCOUNT}:q"
        sns.Subscription(stack, "FarQueue", topic=topic, protocol=sns.SubscriptionProtocol.SQS, endpoint=far_queue)

    template = synth(build)
    details = failing(alarm_actions_in_region.check, template, EU, "AWS::CloudWatch::Alarm")
    assert "Properties/AlarmActions/0" in details and "us-east-1" in details
    assert "account 999999999999" in details and "partition aws-cn" in details
    assert "Properties/OKActions/0" in details and "is not an SNS topic of this stack" in details
    subscriptions = failing(alarm_actions_in_region.check, template, EU, "AWS::SNS::Subscription")
    assert "https subscription sends alarms outside AWS to https://x.io/a" in subscriptions
    assert "sqs subscriber" in subscriptions and "us-east-1" in subscriptions


def test_alarms_on_the_stacks_own_topic_with_email_and_in_region_subscribers_pass():
    for policy in (EU, CN):

        def build(stack):
            topic = sns.Topic(stack, "Alarms")
            alarm = _alarm(stack, "Errors")
            alarm.add_alarm_action(actions.SnsAction(topic))
            alarm.add_ok_action(actions.SnsAction(topic))
            alarm.add_insufficient_data_action(actions.SnsAction(topic))
            cloudwatch.CompositeAlarm(stack, "Any", alarm_rule=cloudwatch.AlarmRule.any_of(alarm)).add_alarm_action(
                actions.SnsAction(topic)
            )
            sns.Subscription(stack, "Mail", topic=topic, protocol=sns.SubscriptionProtocol.EMAIL, endpoint="a@b.eu")
            queue = sqs.Queue(stack, "Queue")
            sns.Subscription(
                stack, "Queue1", topic=topic, protocol=sns.SubscriptionProtocol.SQS, endpoint=queue.queue_arn
            )

        template = synth(build, policy)
        passing(alarm_actions_in_region.check, template, policy, "AWS::CloudWatch::Alarm")
        passing(alarm_actions_in_region.check, template, policy, "AWS::CloudWatch::CompositeAlarm")
        passing(alarm_actions_in_region.check, template, policy, "AWS::SNS::Subscription")
