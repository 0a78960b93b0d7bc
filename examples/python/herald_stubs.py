"""Finds the Python stubs generated from api/herald/v1/broker.proto.

The build writes them to <build>/python (target herald_python_stubs, with
Debian's python3-grpc-tools). $HERALD_PYTHON_STUBS points elsewhere.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_stubs = os.environ.get("HERALD_PYTHON_STUBS",
                        os.path.join(_here, "..", "..", "build", "release", "python"))
sys.path.insert(0, os.path.abspath(_stubs))

from herald.v1 import broker_pb2, broker_pb2_grpc  # noqa: E402,F401
