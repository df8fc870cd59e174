"""Read the YAML artefacts under infra/ as plain data."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, cast

from .stack import TEMPLATE_PATH

# PyYAML (installed with cfn-lint and moto) ships no type information and the project pins
# no stubs for it, hence Any.
yaml: Any = importlib.import_module("yaml")

K8S_DIR = TEMPLATE_PATH.parent / "k8s"


def _cfn_tag(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    """`!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]}, `!Sub s` ->
    {"Fn::Sub": s}: the long form CloudFormation itself turns short forms into."""
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


# A SafeLoader of our own (add_multi_constructor copies the table for the subclass).
_CfnLoader: Any = type("CfnLoader", (yaml.SafeLoader,), {})
_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(text: str | None = None) -> dict[str, Any]:
    """The CloudFormation template (or `text`), short-form intrinsics in their long form."""
    source = TEMPLATE_PATH.read_text(encoding="utf-8") if text is None else text
    return cast("dict[str, Any]", yaml.load(source, Loader=_CfnLoader))


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def kubernetes_manifests() -> dict[str, dict[str, Any]]:
    """The resources listed in infra/k8s/kustomization.yaml, by kind."""
    (kustomization,) = load_documents(K8S_DIR / "kustomization.yaml")
    resources: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in load_documents(K8S_DIR / name):
            kind = str(doc["kind"])
            assert kind not in resources, f"two {kind} resources"
            resources[kind] = doc
    return resources
