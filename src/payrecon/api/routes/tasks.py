"""Manual triggers and what became of them: `POST /v1/tasks/{name}`, `GET /v1/tasks/{id}`,
`GET /v1/task-runs`. Scope `admin`; every trigger is audited; `Idempotency-Key` honoured."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from payrecon.api.auth import Principal, caller
from payrecon.api.jsonenc import DecimalJSONResponse
from payrecon.api.listquery import MAX_PAGE, MAX_PAGE_SIZE, ExactJSONRoute
from payrecon.domain.errors import NotFound
from payrecon.services.operations.task_runs import TaskRun, list_task_runs, task_run_by_task_id

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


# GET and HEAD as two routes, so each operation has its own OpenAPI operationId.
@router.get("/task-runs", summary="Task runs, newest first")
@router.head("/task-runs", summary="The number of task runs (X-Total-Count)")
def task_runs(
    request: Request,
    _: Annotated[Principal, Depends(caller("admin"))],
    name: str | None = None,
    status: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> Any:
    runs, total = list_task_runs(
        request.app.state.container.engine,
        name=name,
        status=status,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    headers = {"X-Total-Count": str(total)}
    if request.method == "HEAD":
        return DecimalJSONResponse(None, headers=headers)
    return DecimalJSONResponse([run_json(r) for r in runs], headers=headers)
