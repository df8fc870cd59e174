"""What the template says, where moto cannot deploy it or drops it: alarms, scaling, Fargate."""

from __future__ import annotations

from typing import Any

import pytest

from consumer.settings import Settings

from .documents import load_template

SERVICE_RESOURCES = {
    "LogGroup",
    "Cluster",
    "TaskDefinition",
    "Service",
    "ScalableTarget",
    "BacklogPerTaskScaling",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template["Resources"]
    return found


def _properties(resources: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources[name]["Properties"]
    return properties


def _container(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _properties(resources, "TaskDefinition")["ContainerDefinitions"]
    assert isinstance(container, dict)
    return container


def test_only_the_service_depends_on_deploy_service(resources: dict[str, dict[str, Any]]) -> None:
    conditional = {n for n, r in resources.items() if r.get("Condition") == "DeployService"}
    assert conditional == SERVICE_RESOURCES


def test_service_parameters_are_required_with_the_service(template: dict[str, Any]) -> None:
    """They default to empty so that DeployService=false needs none; a rule demands them."""
    rule = template["Rules"]["ServiceParameters"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "DeployService"}, "true"]}
    asserted = str(rule["Assertions"])
    for name in ("ContainerImage", "Subnets", "SecurityGroups"):
        assert template["Parameters"][name]["Default"] == ""
        assert f"'Ref': '{name}'" in asserted


def test_queues(resources: dict[str, dict[str, Any]]) -> None:
    queue = _properties(resources, "CommandQueue")
    dlq = _properties(resources, "DeadLetterQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 1209600
    assert queue["VisibilityTimeout"] == {"Ref": "VisibilityTimeoutSeconds"}
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }


def test_parameters(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    # The redrive backstop never fires before the worker's own budget, even where every retry
    # is a receive of the same message (FIFO): failures, throttles, and room for hand-backs.
    budget = (
        Settings.model_fields["max_attempts"].get_default()
        + Settings.model_fields["max_throttle_attempts"].get_default()
    )
    assert parameters["MaxReceiveCount"]["Default"] >= budget + 30
    max_attempts = Settings.model_fields["max_attempts"].get_default()
    assert parameters["MaxAttempts"]["Default"] == max_attempts
    assert (
        parameters["VisibilityTimeoutSeconds"]["Default"]
        == Settings.model_fields["visibility_timeout_seconds"].get_default()
    )
    # Small: the Cognito unlink quota is per account, whatever the task count.
    assert parameters["MaxTasks"]["Default"] <= 5
    assert "account-wide" in parameters["MaxTasks"]["Description"]
    assert parameters["MinTasks"]["MinValue"] >= 1


def test_table(resources: dict[str, dict[str, Any]]) -> None:
    table = _properties(resources, "IdempotencyTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_worker_policy_has_no_wildcards(resources: dict[str, dict[str, Any]]) -> None:
    policy = _properties(resources, "WorkerPolicy")
    assert policy["Roles"] == [{"Ref": "TaskRole"}]
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        assert isinstance(statement["Resource"], dict), "one resource per statement, no '*'"
    # The task role gets its permissions only from the WorkerPolicy.
    role = _properties(resources, "TaskRole")
    assert "Policies" not in role
    assert "ManagedPolicyArns" not in role


def test_alarms(resources: dict[str, dict[str, Any]]) -> None:
    actions = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}

    dead = _properties(resources, "DeadLetterAlarm")
    assert (dead["Namespace"], dead["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    ]
    assert (dead["ComparisonOperator"], dead["Threshold"]) == ("GreaterThanThreshold", 0)
    assert dead["AlarmActions"] == actions

    age = _properties(resources, "OldestMessageAlarm")
    assert (age["Namespace"], age["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert age["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CommandQueue", "QueueName"]}}
    ]
    assert age["ComparisonOperator"] == "GreaterThanThreshold"
    assert age["Threshold"] == {"Ref": "OldestMessageAgeAlarmSeconds"}
    assert age["AlarmActions"] == actions


def test_scaling_on_backlog_per_task(resources: dict[str, dict[str, Any]]) -> None:
    target = _properties(resources, "ScalableTarget")
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        {"Ref": "MinTasks"},
        {"Ref": "MaxTasks"},
    )

    policy = _properties(resources, "BacklogPerTaskScaling")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == {"Ref": "BacklogPerTaskTarget"}
    queries = {q["Id"]: q for q in tracking["CustomizedMetricSpecification"]["Metrics"]}
    returned = [q for q in queries.values() if q["ReturnData"]]
    assert len(returned) == 1
    assert returned[0]["Expression"] == "visible / tasks"

    visible = queries["visible"]["MetricStat"]["Metric"]
    assert (visible["Namespace"], visible["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert visible["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CommandQueue", "QueueName"]}}
    ]
    tasks = queries["tasks"]["MetricStat"]["Metric"]
    assert (tasks["Namespace"], tasks["MetricName"]) == (
        "ECS/ContainerInsights",
        "RunningTaskCount",
    )
    assert {d["Name"] for d in tasks["Dimensions"]} == {"ClusterName", "ServiceName"}
    # That metric exists only with Container Insights on.
    assert {"Name": "containerInsights", "Value": "enabled"} in _properties(resources, "Cluster")[
        "ClusterSettings"
    ]


def test_fargate_task(resources: dict[str, dict[str, Any]]) -> None:
    task = _properties(resources, "TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}
    assert _properties(resources, "Service")["LaunchType"] == "FARGATE"
    assert "DesiredCount" not in _properties(resources, "Service")

    container = _container(resources)
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "LogGroup"}
    assert _properties(resources, "LogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "/healthz" in " ".join(container["HealthCheck"]["Command"])


def test_container_environment_is_the_workers(resources: dict[str, dict[str, Any]]) -> None:
    container = _container(resources)
    env: dict[str, Any] = {}
    for item in container["Environment"]:
        # The optional UNLINK_RATE_LIMIT: {"Fn::If": [condition, the variable, AWS::NoValue]}.
        variable = item["Fn::If"][1] if "Fn::If" in item else item
        env[variable["Name"]] = variable["Value"]

    known = {f"UNLINK_{name.upper()}" for name in Settings.model_fields}
    assert set(env) - {"AWS_REGION", "AWS_DEFAULT_REGION"} <= known
    # botocore reads AWS_DEFAULT_REGION, not AWS_REGION.
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == {"Ref": "AWS::Region"}
    assert {
        "UNLINK_QUEUE_URL",
        "UNLINK_DLQ_URL",
        "UNLINK_IDEMPOTENCY_TABLE",
        "UNLINK_CONCURRENCY",
        "UNLINK_WAIT_TIME_SECONDS",
        "UNLINK_VISIBILITY_TIMEOUT_SECONDS",
        "UNLINK_MAX_ATTEMPTS",
        "UNLINK_GRACE_PERIOD_SECONDS",
        "UNLINK_RATE_LIMIT",
        "UNLINK_METRICS_PORT",
        "UNLINK_LOG_FORMAT",
    } <= set(env)
    # One parameter for the queue's visibility timeout and the worker's.
    assert env["UNLINK_VISIBILITY_TIMEOUT_SECONDS"] == {"Ref": "VisibilityTimeoutSeconds"}
    # SIGTERM, the worker's grace period, then SIGKILL at StopTimeout.
    assert float(env["UNLINK_GRACE_PERIOD_SECONDS"]) < container["StopTimeout"] == 30
    port = int(env["UNLINK_METRICS_PORT"])
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [port]
