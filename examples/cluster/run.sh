#!/bin/sh
# Three local heraldd nodes in one cluster (HTTP 8081-8083, peers 9081-9083).
# Ctrl-C stops them all. Options: see demo.py --help (e.g. --check).
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/demo.py" "$@"
