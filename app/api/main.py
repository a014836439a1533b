"""The API router: every resource's routes in one place."""

from fastapi import APIRouter

from app.api.routes import datasets, health, jobs, metrics, models, samples, ui

api_router = APIRouter()
for module in (samples, models, jobs, datasets, health, metrics, ui):
    api_router.include_router(module.router)
