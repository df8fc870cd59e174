"""infra/k8s: each manifest against its schema, and the manifests against each other and the worker.

Built-in kinds are validated with kubernetes-validate (the Kubernetes OpenAPI schemas, bundled,
offline, strict: unknown fields are errors). KEDA's ScaledObject and TriggerAuthentication are
custom resources with no schema there: schemas/ holds JSON schemas written from KEDA's CRDs.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.settings import Settings

from .documents import K8S_DIR, kubernetes_manifests, load_documents

SCHEMAS = Path(__file__).parent / "schemas"
CUSTOM_RESOURCES = {
    "ScaledObject": "keda-scaledobject.schema.json",
    "TriggerAuthentication": "keda-triggerauthentication.schema.json",
}
# The oldest Kubernetes minor version the manifests are meant for, and the newest known.
OLDEST_KUBERNETES = "1.30"

Validate = Callable[[dict[str, Any]], list[str]]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return kubernetes_manifests()


@pytest.fixture(scope="module")
def validate_builtin() -> Validate:
    """Errors of a built-in resource against the strict schemas of each Kubernetes version."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate (a dev dependency) bundles the Kubernetes schemas",
    )
    versions = (OLDEST_KUBERNETES, str(kubernetes_validate.latest_version()))

    def validate(resource: dict[str, Any]) -> list[str]:
        errors = []
        for version in versions:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = "/".join(str(p) for p in error.path)
                errors.append(f"{version} {path}: {error.message}")
        return errors

    return validate


@pytest.fixture(scope="module")
def validate_custom() -> Validate:
    """Errors of a KEDA resource against schemas/."""
    jsonschema = pytest.importorskip("jsonschema")
    validators = {
        kind: jsonschema.Draft202012Validator(json.loads((SCHEMAS / name).read_text()))
        for kind, name in CUSTOM_RESOURCES.items()
    }
    for validator in validators.values():
        validator.check_schema(validator.schema)

    def validate(resource: dict[str, Any]) -> list[str]:
        validator = validators[resource["kind"]]
        return [
            f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(resource)
        ]

    return validate


def _validate(resource: dict[str, Any], request: pytest.FixtureRequest) -> list[str]:
    """Only the validator a kind needs, so that a missing kubernetes-validate skips only the
    built-in kinds."""
    fixture = "validate_custom" if resource["kind"] in CUSTOM_RESOURCES else "validate_builtin"
    validate: Validate = request.getfixturevalue(fixture)
    return validate(resource)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = load_documents(K8S_DIR / "kustomization.yaml")
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk)


KINDS = [
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Deployment",
    "NetworkPolicy",
    *CUSTOM_RESOURCES,
]


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_matches_its_schema(
    kind: str, manifests: dict[str, dict[str, Any]], request: pytest.FixtureRequest
) -> None:
    assert _validate(manifests[kind], request) == []


def _mistakes(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One known mistake per copy, by what it is."""
    mistakes: dict[str, dict[str, Any]] = {}

    def copy_of(kind: str, mistake: str) -> dict[str, Any]:
        mistakes[mistake] = copy.deepcopy(manifests[kind])
        return mistakes[mistake]

    pod = copy_of("Deployment", "misspelt pod field")["spec"]["template"]["spec"]
    pod["terminationGracePeriod"] = 30
    pod = copy_of("Deployment", "probe port of the wrong type")["spec"]["template"]["spec"]
    pod["containers"][0]["livenessProbe"]["httpGet"]["port"] = [9102]
    copy_of("ConfigMap", "a number as ConfigMap data")["data"]["UNLINK_CONCURRENCY"] = 32

    trigger = copy_of("ScaledObject", "queueLength not a string")["spec"]["triggers"][0]
    trigger["metadata"]["queueLength"] = 100
    trigger = copy_of("ScaledObject", "no awsRegion")["spec"]["triggers"][0]
    del trigger["metadata"]["awsRegion"]
    trigger = copy_of("ScaledObject", "misspelt scaler key")["spec"]["triggers"][0]
    trigger["metadata"]["scaleOnDelay"] = "false"
    del copy_of("ScaledObject", "no scale target")["spec"]["scaleTargetRef"]
    auth = copy_of("TriggerAuthentication", "roleArn with identityOwner")["spec"]
    auth["podIdentity"]["roleArn"] = "arn:aws:iam::123456789012:role/keda-sqs"
    return mistakes


MISTAKES = list(_mistakes(kubernetes_manifests()))


@pytest.mark.parametrize("mistake", MISTAKES)
def test_schemas_reject_mistakes(
    mistake: str, manifests: dict[str, dict[str, Any]], request: pytest.FixtureRequest
) -> None:
    """The validation can fail."""
    assert _validate(_mistakes(manifests)[mistake], request) != []


def test_configmap_is_the_workers_settings(manifests: dict[str, dict[str, Any]]) -> None:
    data: dict[str, str] = manifests["ConfigMap"]["data"]
    known = {f"UNLINK_{name.upper()}" for name in Settings.model_fields}
    assert set(data) - {"AWS_REGION", "AWS_DEFAULT_REGION"} <= known
    # botocore reads AWS_DEFAULT_REGION, not AWS_REGION.
    assert data["AWS_DEFAULT_REGION"] == data["AWS_REGION"]
    settings = Settings.model_validate(
        {k.removeprefix("UNLINK_").lower(): v for k, v in data.items() if k.startswith("UNLINK_")}
    )
    assert settings.metrics_port == 9102
    assert settings.log_format == "json"


def test_deployment_runs_the_worker_safely(manifests: dict[str, dict[str, Any]]) -> None:
    deployment = manifests["Deployment"]
    data = manifests["ConfigMap"]["data"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert pod["serviceAccountName"] == manifests["ServiceAccount"]["metadata"]["name"]
    assert container["envFrom"] == [
        {"configMapRef": {"name": manifests["ConfigMap"]["metadata"]["name"]}}
    ]

    # SIGTERM, the worker's grace period, then SIGKILL.
    assert pod["terminationGracePeriodSeconds"] == 30
    assert float(data["UNLINK_GRACE_PERIOD_SECONDS"]) < pod["terminationGracePeriodSeconds"]

    (port,) = container["ports"]
    assert port["containerPort"] == int(data["UNLINK_METRICS_PORT"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= container["resources"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert pod["automountServiceAccountToken"] is False  # IRSA's token is a volume of its own


def test_the_network_policy_lets_in_only_the_metrics_port(
    manifests: dict[str, dict[str, Any]],
) -> None:
    policy = manifests["NetworkPolicy"]["spec"]
    pod = manifests["Deployment"]["spec"]["template"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (port,) = pod["spec"]["containers"][0]["ports"]
    assert policy["ingress"] == [{"ports": [{"port": port["name"], "protocol": "TCP"}]}]
    egress = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (443, "TCP")}


def test_service_account_is_annotated_for_irsa(manifests: dict[str, dict[str, Any]]) -> None:
    annotations = manifests["ServiceAccount"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_keda_scales_the_deployment_on_the_queue(manifests: dict[str, dict[str, Any]]) -> None:
    spec = manifests["ScaledObject"]["spec"]
    data = manifests["ConfigMap"]["data"]
    assert spec["scaleTargetRef"]["kind"] == "Deployment"
    assert spec["scaleTargetRef"]["name"] == manifests["Deployment"]["metadata"]["name"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= 5

    (trigger,) = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    name = manifests["TriggerAuthentication"]["metadata"]["name"]
    assert trigger["authenticationRef"]["name"] == name
    assert manifests["TriggerAuthentication"]["spec"]["podIdentity"]["provider"] == "aws"

    metadata = trigger["metadata"]
    assert metadata["queueURL"] == data["UNLINK_QUEUE_URL"]
    assert metadata["awsRegion"] == data["AWS_REGION"]
    # Parked (delayed) commands must not scale the fleet up.
    assert metadata.get("scaleOnDelayed", "false") == "false"
    # In-flight messages count: the per-replica target must exceed what one replica holds.
    assert metadata.get("scaleOnInFlight", "true") == "true"
    assert int(metadata["queueLength"]) > int(data["UNLINK_CONCURRENCY"])


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (its built-in kustomize renders the manifests)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = directory / "built.yaml"
    built.write_text(result.stdout, encoding="utf-8")
    return load_documents(built)


def test_kustomize_build(tmp_path: Path) -> None:
    """Render with kubectl's kustomize, after changing the ConfigMap as a deployer would."""
    work = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, work)
    configmap = (work / "configmap.yaml").read_text(encoding="utf-8")
    queue_url = "https://sqs.eu-west-1.amazonaws.com/210987654321/prod-commands"
    configmap = configmap.replace(
        "https://sqs.us-east-1.amazonaws.com/123456789012/cognito-unlink-CommandQueue", queue_url
    ).replace("AWS_REGION: us-east-1", "AWS_REGION: eu-west-1")
    (work / "configmap.yaml").write_text(configmap, encoding="utf-8")

    resources = {doc["kind"]: doc for doc in _kustomize(work)}
    assert set(resources) == set(kubernetes_manifests())
    for kind, resource in resources.items():
        if kind != "Namespace":
            assert resource["metadata"]["namespace"] == "cognito-unlink", kind
    # The replacements carried the ConfigMap's queue and Region into KEDA's trigger.
    (trigger,) = resources["ScaledObject"]["spec"]["triggers"]
    assert trigger["metadata"]["queueURL"] == queue_url
    assert trigger["metadata"]["awsRegion"] == "eu-west-1"
    assert resources["ConfigMap"]["data"]["AWS_DEFAULT_REGION"] == "eu-west-1"
