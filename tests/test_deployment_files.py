"""docker-compose.yml and the Dockerfile, checked without Docker: services, commands, variables."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml
from django.core.management import get_commands

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTINGS = (ROOT / "cryptotracker" / "settings.py").read_text()
APP_SERVICES = ("migrate", "web", "qcluster")


def command_of(service: str) -> list[str]:
    """The service's command as one shell-split word list (sh -c scripts included)."""
    command = COMPOSE["services"][service]["command"]
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2].replace("&&", " ").replace("&", " "))
    return command


def test_compose_runs_web_clusters_postgres_redis_dynalite_and_a_one_shot_setup_job():
    services = COMPOSE["services"]

    assert set(services) == {"postgres", "redis", "dynalite", "migrate", "web", "qcluster"}
    assert services["qcluster"]["deploy"]["replicas"] >= 2
    assert services["migrate"]["restart"] == "no"
    for service in ("web", "qcluster"):
        assert services[service]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_every_manage_py_command_in_compose_exists():
    commands = [
        words[i + 1]
        for service in APP_SERVICES
        for words in [command_of(service)]
        for i, word in enumerate(words)
        if word == "manage.py"
    ]

    assert {"migrate", "ensure_tables", "ensure_schedules", "qcluster", "serve_metrics"} <= set(commands)
    assert set(commands) <= set(get_commands())


def test_web_runs_gunicorn_on_the_projects_wsgi_module():
    words = command_of("web")

    assert words[:2] == ["gunicorn", "cryptotracker.wsgi"]
    assert (ROOT / "cryptotracker" / "wsgi.py").exists()
    assert re.search(r"^gunicorn[>=<]", (ROOT / "requirements.txt").read_text(), re.MULTILINE)


def test_every_variable_compose_gives_the_app_is_one_settings_reads():
    variables = set(COMPOSE["x-app"]["environment"])

    unread = {name for name in variables if f'"{name}"' not in SETTINGS}

    assert unread == set()


def test_the_app_talks_to_the_compose_services_not_to_this_hosts_loopback():
    env = COMPOSE["x-app"]["environment"]

    assert env["DYNAMODB_ENDPOINT_URL"] == "http://dynalite:4567"
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["DJANGO_DEBUG"] == "false"
    assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")


def test_dynalite_runs_the_version_pinned_in_package_lock():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["dynalite"]

    assert lock["packages"]["node_modules/dynalite"]["version"] == pinned
    assert "COPY package.json package-lock.json ./" in DOCKERFILE
    assert "npm ci" in DOCKERFILE
    assert COMPOSE["services"]["dynalite"]["build"]["target"] == "dynalite"


@pytest.mark.parametrize("target", ["dynalite", "app"])
def test_the_dockerfile_has_each_target_compose_builds(target):
    assert re.search(rf"^FROM \S+ AS {target}$", DOCKERFILE, re.MULTILINE)
