"""Where runs find their storage and engine, and the registry of committed workflows.

The core knows no settings module. Without configuration every run uses one
process-wide :class:`~workflows_app.core.memory.InMemoryStorage` and the
``default`` engine; the Django app calls :func:`configure` from
``AppConfig.ready()`` so that runs use the ORM storage and the ``WORKFLOWS``
settings instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .bus import InMemoryBus
from .errors import WorkflowError, WorkflowNotFoundError
from .memory import InMemoryStorage

if TYPE_CHECKING:
    from .graph import WorkflowDefinition
    from .storage import Storage

StorageFactory = Callable[[], "Storage"]
EngineFactory = Callable[..., Any]  # (storage, bus, **options) -> an engine
SweepDuty = Callable[[bool], Awaitable[Any]]  # called with True at a worker's first sweep

_storage_factory: StorageFactory | None = None
_storage: Storage | None = None
_default_engine = "default"
_engine_options: dict[str, Any] = {}
_workflows: dict[str, WorkflowDefinition] = {}
_engines: dict[str, Any] = {}
_bus_factory: Callable[[], Any] | None = None
_bus: Any = None
_engine_factories: dict[str, EngineFactory] = {}
_sweep_duties: list[SweepDuty] = []


def configure(
    *,
    storage_factory: StorageFactory | None = None,
    default_engine: str | None = None,
    engine_options: dict[str, Any] | None = None,
    engines: Mapping[str, EngineFactory] | None = None,
    sweep_duties: Sequence[SweepDuty] | None = None,
) -> None:
    """Choose how runs are stored and executed; later calls replace earlier ones.

    ``engines`` names the engine classes runs may choose: the package gives the
    core its engines (``workflows_app/__init__.py``), the core never imports them.
    ``sweep_duties`` are what every worker's sweeper also does, given by the app
    (the Django app fires due schedules there); the engines never import the app.
    """
    global _storage_factory, _storage, _default_engine, _engine_options
    if engines is not None:
        _engine_factories.update(engines)
        _engines.clear()
    if storage_factory is not None:
        _storage_factory = storage_factory
        _storage = None
        _engines.clear()
    if default_engine is not None:
        _default_engine = default_engine
    if sweep_duties is not None:
        _sweep_duties[:] = sweep_duties
    if engine_options is not None:
        _engine_options = dict(engine_options)
        _engines.clear()


def get_storage() -> Storage:
    """The storage runs use, created on first use."""
    global _storage
    if _storage is None:
        _storage = InMemoryStorage() if _storage_factory is None else _storage_factory()
    return _storage


def reset_storage() -> None:
    """Forget the cached storage and engines (settings changed, or a test wants a fresh one)."""
    global _storage
    _storage = None
    _engines.clear()


def configure_bus(factory: Callable[[], Any] | None) -> None:
    """Choose the message bus of the evented engine (``None``: in-memory, this process only)."""
    global _bus_factory, _bus
    _bus_factory = factory
    _bus = None
    _engines.clear()


def get_bus() -> Any:
    """The bus the evented engine uses, created on first use."""
    global _bus
    if _bus is None:
        _bus = InMemoryBus() if _bus_factory is None else _bus_factory()
    return _bus


def get_engine(name: str | None = None) -> Any:
    """The engine instance called ``name`` (``None``: the configured default), cached."""
    name = name or _default_engine
    if name not in _engines:
        if name not in _engine_factories:
            raise WorkflowError(
                f"Unknown workflow engine {name!r}; choose one of {sorted(_engine_factories)}"
            )
        _engines[name] = _engine_factories[name](get_storage(), get_bus(), **_engine_options.get(name, {}))
    return _engines[name]


def sweep_duties() -> list[SweepDuty]:
    return list(_sweep_duties)


def engine_names() -> list[str]:
    return sorted(_engine_factories)


def get_default_engine() -> str:
    return _default_engine


def get_engine_options() -> dict[str, Any]:
    return dict(_engine_options)


def register_workflow(workflow: WorkflowDefinition) -> None:
    """Make a committed workflow findable by id (REST, admin, workers, commands)."""
    _workflows[workflow.id] = workflow


def unregister_workflow(workflow_id: str) -> None:
    """Forget a workflow (a process that no longer serves it); its stored runs stay."""
    _workflows.pop(workflow_id, None)


def get_workflow(workflow_id: str) -> WorkflowDefinition:
    try:
        return _workflows[workflow_id]
    except KeyError:
        raise WorkflowNotFoundError(f"Workflow {workflow_id!r} is not registered") from None


def registered_workflows() -> dict[str, WorkflowDefinition]:
    return dict(_workflows)
