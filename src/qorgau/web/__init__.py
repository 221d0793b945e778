"""HTTP layer: FastAPI app, request/response schemas and the error table."""
