"""Tests of the deployment artefacts: infra/ (CloudFormation, Kubernetes) and the Dockerfile."""
