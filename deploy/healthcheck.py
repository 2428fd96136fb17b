"""Container/monitoring health check of the web server: exit 0 when it answers, else 1.

Run next to gunicorn (``python deploy/healthcheck.py``). It asks for the OpenAPI document the
way the TLS proxy would: Host is the first of ALLOWED_HOSTS and X-Forwarded-Proto is https, so
that the production settings (host validation, HTTPS redirect) answer 200 and not 400 or 301.
HEALTHCHECK_URL overrides where it looks (default: http://GUNICORN_BIND). Stdlib only.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

PATH = "/api/v1/openapi.json"


def request_for(base_url: str, environ: dict) -> urllib.request.Request:
    hosts = [h.strip() for h in environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    return urllib.request.Request(
        base_url.rstrip("/") + PATH,
        headers={"Host": host, "X-Forwarded-Proto": "https", "User-Agent": "devfleet-healthcheck"},
    )


def check(base_url: str, environ: dict, timeout: float = 5.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(request_for(base_url, environ), timeout=timeout) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, str(exc)


def main() -> int:
    bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").replace("0.0.0.0", "127.0.0.1")
    ok, detail = check(os.environ.get("HEALTHCHECK_URL", f"http://{bind}"), dict(os.environ))
    sys.stdout.write(f"{'healthy' if ok else 'unhealthy'}: {detail}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
