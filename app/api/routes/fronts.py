"""Fronts as jobs: POST answers 202 with the job's URL; progress as server-sent events; cancellation.

The job runs in this worker's bounded process pool (or on Dask with COOPCHAIN_DASK)
and reports through the database, so every worker answers for every job."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from coopchain.app.api.deps import Allow, PageDep, SettingsDep, StoreDep, may_see, scope_of
from coopchain.app.api.errors import ApiError, not_found
from coopchain.app.api.responses import documented
from coopchain.app.api.routes.problems import visible_problem
from coopchain.app.api.schemas import FrontCreate, JobPublic, JobsPublic
from coopchain.service.api_store import ApiKey, ApiStore, Job
from coopchain.service.fronts import FrontRequest, check_request

router = APIRouter(tags=["fronts"])
Starter = Annotated[ApiKey, Depends(Allow("admin", "manager"))]
Reader = Annotated[ApiKey, Depends(Allow("admin", "manager", "auditor"))]


def job_public(job: Job) -> JobPublic:
    return JobPublic(id=job.id, url=f"/fronts/{job.id}", events=f"/fronts/{job.id}/events", cooperative=job.cooperative, problem=job.problem,
                     request=FrontCreate(**job.request), state=job.state, progress=job.progress, message=job.message, result=job.result,
                     created=job.created, updated=job.updated)


def _visible_job(store: ApiStore, caller: ApiKey, job_id: str) -> Job:
    job = store.job(job_id) if len(job_id) <= 64 else None
    if job is None or not may_see(caller, job.cooperative):
        raise not_found(f"front job {job_id}")
    return job


@router.post("/problems/{digest}/fronts", status_code=202, response_model=JobPublic, responses=documented(JobPublic, 404, 429, status=202))
async def start_front(digest: str, body: FrontCreate, request: Request, response: Response, store: StoreDep, settings: SettingsDep, caller: Starter) -> JobPublic:
    """Start a front job; 202 with its URL (Location) to poll and its events URL to follow."""
    stored = await run_in_threadpool(visible_problem, store, caller, digest)
    front = FrontRequest(body.method, body.points, tuple(body.objectives), body.seed)
    check_request(front)
    job = await run_in_threadpool(store.create_job, stored.cooperative, stored.hash, body.model_dump(), settings.max_active_jobs)
    if job is None:
        raise ApiError(429, "pool-full", f"{settings.max_active_jobs} front jobs are queued or running; retry when one ends", headers={"Retry-After": "5"})
    request.app.state.jobs.submit(job.id, body.method)
    response.headers["Location"] = f"/fronts/{job.id}"
    return job_public(job)


@router.get("/fronts", response_model=JobsPublic, responses=documented(JobsPublic))
def list_fronts(store: StoreDep, caller: Reader, page: PageDep) -> JobsPublic:
    """Front jobs, newest first (a manager sees their cooperatives' only)."""
    jobs, count = store.jobs(scope_of(caller), *page)
    return JobsPublic(data=[job_public(j) for j in jobs], count=count, offset=page[0], limit=page[1])


@router.get("/fronts/{job_id}", response_model=JobPublic, responses=documented(JobPublic, 404))
def read_front(job_id: str, store: StoreDep, caller: Reader) -> JobPublic:
    """A front job: its state, progress in [0, 1], and when done its front, hypervolume and compromise picks."""
    return job_public(_visible_job(store, caller, job_id))


@router.post("/fronts/{job_id}/cancel", status_code=202, response_model=JobPublic, responses=documented(JobPublic, 404, status=202))
def cancel_front(job_id: str, store: StoreDep, caller: Starter) -> JobPublic:
    """Ask a front job to stop: a queued job stops at once, a running one at its next grid point or generation."""
    job = _visible_job(store, caller, job_id)
    store.job_cancel(job.id)
    return job_public(store.job(job.id))


_EVENTS_DOC = {200: {"description": "text/event-stream: `progress` events {state, progress, message}, then one `end` event with the final state",
                     "content": {"text/event-stream": {"schema": {"type": "string"}, "example": 'event: progress\ndata: {"state": "running", "progress": 0.4, "message": "7 points, 40 of 100 grid points settled"}\n\n'}}}}


@router.get("/fronts/{job_id}/events", responses={**documented(None, 404), **_EVENTS_DOC}, response_class=EventSourceResponse)
async def front_events(job_id: str, request: Request, store: StoreDep, caller: Reader) -> EventSourceResponse:
    """Server-sent progress events of a front job until it ends (then one `end` event)."""
    job = await run_in_threadpool(_visible_job, store, caller, job_id)

    async def events():
        last = None
        current = job
        while True:
            seen = (current.state, current.progress, current.message)
            if seen != last:
                last = seen
                yield {"event": "progress", "data": json.dumps({"state": current.state, "progress": current.progress, "message": current.message})}
            if current.finished:
                yield {"event": "end", "data": json.dumps({"state": current.state, "message": current.message, "url": f"/fronts/{current.id}"})}
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.2)
            current = await run_in_threadpool(store.job, job_id)

    return EventSourceResponse(events(), ping=15)
