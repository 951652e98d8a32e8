"""What the benchmarks ran on: the numbers mean little without the machine and the versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _postgres_version(url: str) -> str:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except psycopg.Error as error:
        return f"unreachable ({error.__class__.__name__})"


def _redis_version(url: str) -> str:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        return str(client.info("server")["redis_version"])
    except redis.RedisError as error:
        return f"unreachable ({error.__class__.__name__})"


def describe(postgres_url: str, redis_url: str) -> dict[str, Any]:
    """The machine (``nproc``, /proc/cpuinfo, /proc/meminfo) and the versions that matter."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": _version("django"),
        "channels": _version("channels"),
        "channels_redis": _version("channels-redis"),
        "postgresql": _postgres_version(postgres_url),
        "redis": _redis_version(redis_url),
        "dbos": _version("dbos"),
        "langgraph": _version("langgraph"),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
