"""Datasets: the builtin ones, and image archives uploaded to train on."""

from __future__ import annotations

import functools
import shutil
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from app.api.deps import DatasetsDep, JobStoreDep, SettingsDep, WriteAccess
from app.api.errors import field_error, invalid, not_found, unprocessable
from app.api.strict import StrictRoute
from app.schemas.datasets import DatasetInfo
from app.services.datasets.archives import ArchiveError
from app.services.datasets.catalog import RESERVED_NAMES, DatasetCatalog, DatasetExists
from app.services.datasets.uploads import (
    FILE_FIELD,
    UploadedForm,
    UploadError,
    UploadStalled,
    UploadTooLarge,
    receive_upload,
)
from common.jobs import FINAL_STATUSES

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=StrictRoute)

# What the file part may be; the server reads the type from the first bytes, not from these.
ARCHIVE_MEDIA_TYPES = "application/zip, application/x-tar, application/gzip"
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": ".zip, .tar or .tar.gz of images; one top-level "
                            "folder per class for a labelled dataset",
                        },
                        "name": {"type": "string", "description": "the dataset's name"},
                    },
                },
                "encoding": {"file": {"contentType": ARCHIVE_MEDIA_TYPES}},
            }
        },
    }
}


@router.get("")
def list_datasets(datasets: DatasetsDep) -> list[DatasetInfo]:
    """Builtin and downloadable datasets, then uploaded ones."""
    return [DatasetInfo(**d) for d in (*datasets.builtin(), *datasets.uploaded())]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={
        400: {"description": "Not a well-formed multipart upload with one file."},
        408: {"description": "The upload stalled: no data for the configured idle time."},
        409: {"description": "The name is taken."},
        413: {"description": "The upload is larger than the server accepts."},
        422: {"description": "Not an acceptable archive (unsafe, corrupt, cut short, no readable image)."},
    },
)
async def upload_dataset(
    _: WriteAccess,
    request: Request,
    datasets: DatasetsDep,
    settings: SettingsDep,
    name: Annotated[
        str | None,
        Query(description="alternative to the `name` form field; lets a taken name fail before the upload"),
    ] = None,
) -> DatasetInfo:
    """Upload an image archive as a new dataset. Nothing is left behind if it is refused.

    Every image is checked as it is unpacked (header, size, structure; nothing is decoded);
    the record counts the readable ones, their size, channels and classes, and the files
    left out with the reasons. A client that goes away mid-upload is no server error: the
    temporary folder goes, and the request is counted as 499 (the client closed it).
    """
    if name is not None:
        _check_name(datasets, name)
    work = await anyio.to_thread.run_sync(datasets.temporary_folder)
    try:
        form = await receive_upload(
            request.headers.get("content-type"),
            request.stream(),
            work / "upload",
            max_file_bytes=settings.max_upload_bytes,
            idle_seconds=settings.upload_idle_seconds,
        )
        _check_form(form)
        name = form.fields.get("name") or name
        if not name:
            raise unprocessable("the form field 'name' is required", location="form", field="name")
        _check_name(datasets, name)
        assert form.file_path is not None
        install = functools.partial(
            datasets.install,
            form.file_path,
            name,
            work,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_members=settings.max_archive_members,
        )
        info = await anyio.to_thread.run_sync(install)
    except UploadTooLarge as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(error)) from None
    except UploadStalled as error:
        # The client may still be sending, slowly or later: close rather than read on.
        raise HTTPException(
            status.HTTP_408_REQUEST_TIMEOUT, detail=str(error), headers={"Connection": "close"}
        ) from None
    except UploadError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(error)) from None
    except ArchiveError as error:
        raise unprocessable(str(error), location="form", field="file") from None
    except DatasetExists as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
    finally:
        # Shielded: a cancelled request (server shutdown) still removes its temporary folder.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, work, ignore_errors=True))
    return DatasetInfo(**info)


def _check_name(datasets: DatasetCatalog, name: str) -> None:
    try:
        datasets.check_new_name(name)
    except DatasetExists as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
    except ValueError as error:
        raise unprocessable(str(error), location="form", field="name") from None


def _check_form(form: UploadedForm) -> None:
    """The strict-inputs rule for the form (app/api/strict.py does the query): no field but
    the text field ``name`` (beside the file part), and that one once."""
    errors = [
        field_error("form", key[:64], f"unknown form field {key[:64]!r}; accepted: {FILE_FIELD}, name")
        for key in form.fields
        if key != "name"
    ] + [field_error("form", key, "given more than once; give it once") for key in form.repeated]
    if errors:
        raise invalid(errors)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        403: {"description": "Builtin datasets cannot be deleted."},
        404: {"description": "No uploaded dataset by that name."},
        409: {"description": "An unfinished job trains on it."},
    },
)
def delete_dataset(_: WriteAccess, name: str, datasets: DatasetsDep, store: JobStoreDep) -> Response:
    """Delete an uploaded dataset."""
    if name in RESERVED_NAMES:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"dataset {name!r} is builtin and cannot be deleted"
        )
    if datasets.folder(name) is None:
        raise not_found(f"unknown dataset {name[:64]!r}")
    for record in store.list():
        if record.config.dataset == name and record.status not in FINAL_STATUSES:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail=f"dataset {name!r} is in use by job {record.id}"
            )
    try:
        datasets.delete(name)
    except FileNotFoundError:
        raise not_found(f"unknown dataset {name!r}") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
