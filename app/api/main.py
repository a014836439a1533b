"""The API router: every resource's routes in one place."""

from fastapi import APIRouter
from fastapi.routing import APIRoute

from app.api.routes import datasets, health, jobs, metrics, models, samples, ui

ROUTERS = [module.router for module in (samples, models, jobs, datasets, health, metrics, ui)]
api_router = APIRouter()
for router in ROUTERS:
    api_router.include_router(router)
# Every route as declared (the app serves included copies of them).
API_ROUTES = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
