from byok_shared import run_service

from .app import SERVICE, create_app

run_service(SERVICE, create_app)
