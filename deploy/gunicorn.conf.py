"""gunicorn configuration for devfleet (``gunicorn -c deploy/gunicorn.conf.py config.wsgi``).

Every value can be overridden from the environment (GUNICORN_* below) or on the command line.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Uploads are short requests that spend about half their time waiting on PostgreSQL: a few
# processes, each with a few threads (gthread), keep the cores busy without the context
# switches and database connections of more processes. Measured with bench/ingest.py on 2
# cores (PostgreSQL on the same box): 3 workers x 4 threads served 120 uploads/s with p50
# 13-25 ms where 5 x 4 and 5-8 sync workers queued (p50 0.2-1.4 s), at the same CPU per upload.
# GUNICORN_THREADS=1 gives plain sync workers.
workers = _int("GUNICORN_WORKERS", min(multiprocessing.cpu_count() + 1, 9))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak never grows unbounded; jitter keeps them from
# all restarting at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Only the proxy in front of gunicorn may set X-Forwarded-Proto (nginx on the same host by
# default; a comma-separated list of addresses, or "*" inside a private container network).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Bodies are capped by nginx and by the ingest view (INGEST_MAX_BODY_BYTES); headers here.
limit_request_line = 8190
limit_request_fields = 100
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Client (as forwarded by nginx), request, status, bytes, duration in microseconds.
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
)
# Temporary files of worker heartbeats in memory: a slow disk must not look like a hung worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "devfleet-web"
# gunicorn's control socket (gunicornc): in systemd's RuntimeDirectory when there is one (the
# default under $HOME is read-only for the service), else only where GUNICORN_CONTROL_SOCKET
# says.
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
if not _control and os.environ.get("RUNTIME_DIRECTORY"):
    _control = os.path.join(os.environ["RUNTIME_DIRECTORY"].split(":")[0], "gunicorn.ctl")
if _control:
    control_socket = _control
else:
    control_socket_disable = True
