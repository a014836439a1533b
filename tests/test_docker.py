"""The container files, checked by reading them (there is no Docker engine to build with here).

Each check ties a container file to the code it runs: the entry points exist, the torch pinned
in the images satisfies pyproject.toml, every GAN_ variable is a real setting.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from common.settings import ENV_PREFIX, Settings

yaml = pytest.importorskip("yaml", reason="pyyaml (dev extra) is needed to read the compose file")

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = {"api": ROOT / "docker/api.Dockerfile", "worker": ROOT / "docker/worker.Dockerfile"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def exec_form(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT arguments; only the JSON (exec) form passes signals to the process."""
    value = json.loads(arguments)
    assert isinstance(value, list), "use the exec form so SIGTERM reaches the process"
    return value


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def seconds(duration: str | int) -> float:
    """A compose duration ('2m', '1m30s', '90s', 90) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def pip_installs(dockerfile: Path) -> list[list[str]]:
    """The argument lists of every `pip install` in RUN steps, in order."""
    found = []
    for instruction, arguments in instructions(dockerfile):
        if instruction != "RUN":
            continue
        for command in re.split(r"&&|;", arguments):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
                found.append(words[words.index("install") + 1 :])
    return found


def torch_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return next(Requirement(r) for r in project["dependencies"] if Requirement(r).name == "torch")


# -- compose -----------------------------------------------------------------------------------
def test_services_and_builds(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"redis", "api", "worker"}
    for name, dockerfile in DOCKERFILES.items():
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == dockerfile.resolve()
    assert services["redis"]["image"].startswith("redis:")
    assert "8000:8000" in [str(port) for port in services["api"]["ports"]]


def test_redis_is_persistent_and_health_checked(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"] if isinstance(redis["command"], list) else redis["command"].split()
    assert command[command.index("--appendonly") + 1] == "yes"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    volume, target = redis["volumes"][0].split(":")[:2]
    assert volume in compose["volumes"] and target == "/data"  # the official image's dir
    for name in ("api", "worker"):
        assert compose["services"][name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_worker_reserves_the_gpus_and_has_time_to_checkpoint(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert seconds(worker["stop_grace_period"]) >= 60


def test_api_and_worker_share_the_data_volume(compose: dict[str, Any]) -> None:
    mounts = []
    for name in ("api", "worker"):
        service = compose["services"][name]
        data_dir = env_of(service)["GAN_DATA_DIR"]
        volume = next(v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == data_dir)
        assert volume in compose["volumes"], "a named volume, not a host folder"
        mounts.append((volume, data_dir))
    assert mounts[0] == mounts[1]


def test_services_reach_redis_by_its_service_name(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        assert env_of(compose["services"][name])["GAN_REDIS_URL"] == "redis://redis:6379/0"


def test_every_gan_variable_is_a_setting(compose: dict[str, Any]) -> None:
    used = {key for service in compose["services"].values() for key in env_of(service)}
    for dockerfile in DOCKERFILES.values():
        for instruction, arguments in instructions(dockerfile):
            if instruction == "ENV":
                used |= set(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", arguments))
    gan = {key for key in used if key.startswith(ENV_PREFIX)}
    assert {"GAN_DATA_DIR", "GAN_REDIS_URL"} <= gan
    unknown = {key for key in gan if key[len(ENV_PREFIX) :].lower() not in Settings.model_fields}
    assert unknown == set()


# -- Dockerfiles -------------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["api", "worker"])
def test_images_install_a_matching_torch_before_the_project(service: str) -> None:
    installs = pip_installs(DOCKERFILES[service])
    torch_step = next(i for i, args in enumerate(installs) if any(a.startswith("torch") for a in args))
    project_step = next(i for i, args in enumerate(installs) if "." in args)
    # Torch first: `pip install .` would otherwise pull the default (CUDA) wheel from PyPI.
    assert torch_step < project_step
    pinned = next(a for a in installs[torch_step] if a.startswith("torch=="))
    assert Version(pinned.split("==")[1]) in torch_requirement().specifier
    index = installs[torch_step][installs[torch_step].index("--index-url") + 1]
    if service == "api":
        assert index == "https://download.pytorch.org/whl/cpu"
    else:
        assert re.fullmatch(r"https://download\.pytorch\.org/whl/(cu\d+|\$\{TORCH_CUDA\})", index)


def test_worker_image_is_cuda_and_api_image_is_slim_python() -> None:
    worker = instructions(DOCKERFILES["worker"])
    args = {a.split("=")[0]: a.split("=", 1)[1] for i, a in worker if i == "ARG" and "=" in a}
    base = next(a for i, a in worker if i == "FROM")
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert base.startswith("nvidia/cuda:") or "cuda" in base
    assert args.get("TORCH_CUDA", "cu").startswith("cu")
    # The torch wheel's CUDA major version must not be newer than the base image's.
    cuda_major = re.search(r"cuda:(\d+)\.", base)
    if cuda_major and "TORCH_CUDA" in args:
        assert args["TORCH_CUDA"][2:4] <= cuda_major.group(1)
    api_base = next(a for i, a in instructions(DOCKERFILES["api"]) if i == "FROM")
    assert api_base.startswith("python:3.11-slim")


@pytest.mark.parametrize("service", ["api", "worker"])
def test_images_run_as_a_non_root_user_with_the_data_dir(service: str) -> None:
    steps = instructions(DOCKERFILES[service])
    users = [arguments for instruction, arguments in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(arguments for instruction, arguments in steps if instruction == "ENV")
    assert re.search(r"\bGAN_DATA_DIR=/data\b", env)


def test_api_image_exposes_and_health_checks_the_port() -> None:
    steps = instructions(DOCKERFILES["api"])
    assert ("EXPOSE", "8000") in steps
    healthcheck = next(arguments for instruction, arguments in steps if instruction == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in healthcheck


def service_command(compose: dict[str, Any], service: str) -> list[str]:
    override = compose["services"][service].get("command")
    if override is not None:
        return override if isinstance(override, list) else shlex.split(override)
    cmd = next(a for i, a in reversed(instructions(DOCKERFILES[service])) if i == "CMD")
    return exec_form(cmd)


def module_level_names(module: str) -> set[str]:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} does not exist"
    tree = ast.parse(Path(spec.origin).read_text())
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def test_api_command_serves_a_real_app(compose: dict[str, Any]) -> None:
    command = service_command(compose, "api")
    assert command[0] == "uvicorn"
    module, attribute = command[1].split(":")
    assert (module, attribute) == ("app.main", "app")
    assert attribute in module_level_names(module), f"{module} defines no module-level {attribute}"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8000"


def test_worker_command_runs_a_real_celery_app(compose: dict[str, Any]) -> None:
    command = service_command(compose, "worker")
    assert command[:4] == ["celery", "-A", "worker.celery_app", "worker"]
    # Celery looks for `app` or `celery` in the module given to -A.
    assert module_level_names("worker.celery_app") & {"app", "celery"}
    for flag in ("--concurrency=1", "--prefetch-multiplier=1"):
        assert flag in command
    assert command[command.index("-O") + 1] == "fair"


# -- build context -----------------------------------------------------------------------------
def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: a pattern matches the path or one of its parent folders."""
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            return True
    return False


def test_dockerignore_keeps_the_project_and_drops_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml"] + [
        path.relative_to(ROOT).as_posix()
        for package in ("app", "worker", "models", "common", "cli", "client")
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    ]
    assert "models/data/__init__.py" in needed or not (ROOT / "models/data").exists()
    assert [path for path in needed if ignored(path, patterns)] == []
    for local in (".venv/bin/python", "data/jobs/x.json", ".git/HEAD", "app/__pycache__/m.pyc"):
        assert ignored(local, patterns), local
