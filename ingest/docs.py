"""/docs (Swagger UI) and /redoc from assets installed with the package (fastapi-offline ships them): no CDN,
so they work offline and nothing third-party runs in the page; a Content-Security-Policy allows only this origin.

No inline script either: Swagger UI is started by a small script served from here, so ``script-src 'self'`` holds.
Both UIs set inline styles (and Redoc starts a worker from a blob), which the policy allows; nothing else.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from floyo.errors import NotFound

ASSETS_PACKAGE = "fastapi_offline"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
ASSETS_PATH = "/docs/assets"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_HEADERS = {"content-security-policy": DOCS_CSP}
_ASSET_HEADERS = {**_HEADERS, "cache-control": "public, max-age=86400"}


@functools.cache
def asset(name: str) -> bytes:
    """One of the UI assets as installed (read once per process)."""
    return (files(ASSETS_PACKAGE) / "static" / name).read_bytes()


def _swagger_page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script></body></html>
"""


def _swagger_init(openapi_url: str) -> str:
    return f"""window.ui = SwaggerUIBundle({{
  url: "{openapi_url}",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  presets: [SwaggerUIBundle.presets.apis],  // the standalone preset is not in the bundle
}});
"""


def _redoc_page(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png"></head>
<body><redoc spec-url="{openapi_url}"></redoc>
<script src="{ASSETS_PATH}/redoc.standalone.js"></script></body></html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets on ``app``, in place of FastAPI's CDN-loading pages (``configure_app``
    calls it, so every Floyo app has them).

    Plain Starlette routes, as FastAPI's own docs are: pages, not API operations (no schema, no request scope).
    """
    # FastAPI added its pages when the app was built: drop them (and the OAuth redirect helper, unused here)
    theirs = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in theirs]
    openapi_url = app.openapi_url or "/openapi.json"
    swagger, init, redoc = _swagger_page(app.title), _swagger_init(openapi_url), _redoc_page(app.title, openapi_url)

    async def swagger_ui(_: Request) -> Response:
        return HTMLResponse(swagger, headers=_HEADERS)

    async def swagger_init(_: Request) -> Response:
        return Response(init, media_type="text/javascript; charset=utf-8", headers=_HEADERS)

    async def redoc_ui(_: Request) -> Response:
        return HTMLResponse(redoc, headers=_HEADERS)

    async def docs_asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = _ASSETS.get(name)
        if media_type is None:  # a fixed list: never a path into the package
            raise NotFound("no_such_asset", f"no documentation asset named {name!r}")
        return Response(asset(name), media_type=media_type, headers=_ASSET_HEADERS)

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/docs/swagger-init.js", swagger_init, include_in_schema=False)
    app.add_route("/redoc", redoc_ui, include_in_schema=False)
    app.add_route(ASSETS_PATH + "/{name}", docs_asset, include_in_schema=False)
