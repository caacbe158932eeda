"""The HTTP service (`roughtrace serve`): the use cases of `app/` over HTTP, for every party.

`settings` lists the service's settings and loads nothing else; `app.create_app` builds the
FastAPI application (FastAPI and uvicorn are imported only when the service runs); `stores` holds
the service's connections to the store, `worker` the one thread that imports.
"""
