"""Waits until a gRPC server answers the health check with SERVING.

Used by run.sh after starting fundingd: polls grpc.health.v1.Health/Check for the whole server ("")
until it says SERVING, the server process exits, or the timeout passes. Exit status 0 when serving,
1 otherwise, with the reason on stderr.
"""

import argparse
import os
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by run.sh) still answers kill 0; /proc tells them apart.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True, help="host:port")
    parser.add_argument("--pid", type=int, required=True, help="the server's process id")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    args = parser.parse_args()

    deadline = time.monotonic() + args.timeout
    last_error = "no answer yet"
    with grpc.insecure_channel(args.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if not process_is_alive(args.pid):
                print(f"wait_serving: fundingd (pid {args.pid}) exited before serving", file=sys.stderr)
                return 1
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return 0
                last_error = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.RpcError as error:
                last_error = f"{error.code().name}: {error.details()}"
            time.sleep(0.1)
    print(
        f"wait_serving: {args.address} was not SERVING within {args.timeout:g}s (last: {last_error})",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
