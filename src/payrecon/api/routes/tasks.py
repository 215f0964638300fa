"""Manual triggers and what became of them: `POST /v1/tasks/{name}`, `GET /v1/tasks/{id}`,
`GET /v1/task-runs`. Scope `admin`; every trigger is audited; `Idempotency-Key` honoured."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request

from payrecon.api.auth import Principal, caller
from payrecon.api.fields import RowId
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import (
    ExactJSONRoute,
    ListQuery,
    list_endpoint,
    list_query,
    list_response,
)
from payrecon.domain.errors import NotFound
from payrecon.services.operations.task_runs import (
    TASK_RUN_SHOWN,
    TaskRun,
    get_task_run,
    list_task_run_page,
    task_run_by_task_id,
)

router = APIRouter(prefix="/v1", tags=["tasks"], route_class=ExactJSONRoute)


def run_json(run: TaskRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "taskId": run.task_id,
        "name": run.name,
        "status": run.status,
        "params": run.params,
        "counts": run.counts,
        "error": run.error,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "durationSeconds": None if run.duration_seconds is None else f"{run.duration_seconds:.3f}",
        "breaches": list(run.counts.get("breachList", [])) if run.counts else [],
    }


@router.post(
    "/tasks/{name}",
    status_code=202,
    summary="Trigger a task by its short name",
    responses={200: {"description": "Triggered before with this Idempotency-Key; not run again"}},
)
def trigger_task(
    request: Request,
    name: str,
    principal: Annotated[Principal, Depends(caller("admin"))],
    params: Annotated[dict[str, Any] | None, Body(description="The task's parameters.")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Any:
    triggered = request.app.state.pipeline.trigger(
        name,
        params or {},
        actor=principal.subject,
        idempotency_key=idempotency_key,
    )
    body = {
        "taskId": triggered.task_id,
        "task": triggered.task,
        "params": triggered.params,
        "created": triggered.created,
    }
    return DecimalJSONResponse(body, status_code=202 if triggered.created else 200)


@router.get("/tasks/{task_id}", summary="A triggered task's state and its recorded run")
def get_task(
    request: Request, task_id: str, _: Annotated[Principal, Depends(caller("admin"))]
) -> Any:
    try:
        run: dict[str, Any] | None = run_json(
            task_run_by_task_id(request.app.state.container.engine, task_id)
        )
    except NotFound:
        run = None
    return {"taskId": task_id, "state": request.app.state.pipeline.task_state(task_id), "run": run}


@list_endpoint(
    router,
    "/task-runs",
    dependencies=[Depends(caller("admin"))],
    summary="Task runs, newest first",
)
def task_runs(request: Request, q: Annotated[ListQuery, Depends(list_query)]) -> Any:
    """The list conventions of every list: `?name=`, `?status=in:failed,breached`,
    `?name=like:poll`, `sort=`, `fields=`; an unknown field or filter is 422."""
    runs, total = list_task_run_page(request.app.state.container.engine, q)
    return list_response(
        [run_json(r) for r in runs],
        total,
        q,
        head=request.method == "HEAD",
        known_fields=TASK_RUN_SHOWN,
    )


@router.get("/task-runs/{run_id}", summary="A task run with its counts and any breaches")
def task_run(
    request: Request,
    run_id: Annotated[RowId, Path(description="Task run identifier")],
    _: Annotated[Principal, Depends(caller("admin"))],
) -> Any:
    return DecimalJSONResponse(run_json(get_task_run(request.app.state.container.engine, run_id)))
