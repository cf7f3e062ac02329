#!/bin/sh
# The dashboard test drives Debian's chromium headless. Install it when it is missing
# and this user may (root with apt-get); otherwise say what to do. Idempotent.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the dashboard test..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null 2>&1 || {
        apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1
    } || echo "could not install chromium; the dashboard test will say so" >&2
else
    echo "chromium is not installed (apt-get install chromium); the dashboard test needs it" >&2
fi
exit 0
