#!/usr/bin/env python3
"""One Fraud Hotzone check from Python (grpcio), against a running `hotzone serve`.

The stubs are generated at run time from the repository's proto/ with grpcio-tools into a
temporary directory, so nothing generated is checked in and the client always matches the
contract it is run next to.

    python3 -m venv /tmp/hz-venv && /tmp/hz-venv/bin/pip install -r examples/python/requirements.txt
    /tmp/hz-venv/bin/python examples/python/check.py --server 127.0.0.1:50051 \
        --phone-number +886912345001 --look-back-days 7 --threshold-ratio 0.3 \
        --hotzone NG --as-of 2026-03-10 --correlator demo-0001

Prints `anomaly_detected=... anomaly_date=...` and the echoed x-correlator, exit status 0.
A refused check prints the gRPC code, the google.rpc.ErrorInfo reason (the CAMARA code) and
field, and the message on stderr, exit status 1. `--health` and `--list-services` do what
`grpcurl ... grpc.health.v1.Health/Check` and `grpcurl ... list` do (health and reflection),
and print a refusal the same way. `--token` is sent with every call (a server may ask one for
health and reflection too); `--compress gzip` compresses every request.
"""

import argparse
import importlib
import importlib.resources
import pathlib
import sys
import tempfile
import uuid

import grpc
from grpc_tools import protoc

PROTO_DIR = pathlib.Path(__file__).resolve().parents[2] / "proto"
PROTO_FILE = "fraudhotzone/v1/hotzone.proto"
CORRELATOR = "x-correlator"


def load_stubs(proto_dir, out_dir):
    """Generates hotzone_pb2 / hotzone_pb2_grpc from the .proto and imports them."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            PROTO_FILE,
        ]
    )
    if rc != 0:
        sys.exit(f"protoc failed on {proto_dir / PROTO_FILE} (exit {rc})")
    sys.path.insert(0, str(out_dir))
    pb2 = importlib.import_module("fraudhotzone.v1.hotzone_pb2")
    pb2_grpc = importlib.import_module("fraudhotzone.v1.hotzone_pb2_grpc")
    return pb2, pb2_grpc


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default="127.0.0.1:50051", help="host:port (plaintext)")
    p.add_argument("--proto-dir", type=pathlib.Path, default=PROTO_DIR)
    p.add_argument("--health", action="store_true", help="print the health status and exit")
    p.add_argument("--list-services", action="store_true", help="list services via reflection and exit")
    p.add_argument("--phone-number", help="E.164, e.g. +886912345001")
    p.add_argument("--look-back-days", type=int, default=0)
    p.add_argument("--threshold-ratio", type=float, default=0.0)
    p.add_argument("--method", choices=["share", "spike"])
    p.add_argument("--hotzone", default="", help="comma-separated: NG,JM,+882")
    p.add_argument("--hotzone-name", default="")
    p.add_argument("--check-type", choices=["all", "call", "sms"])
    p.add_argument("--check-target", choices=["all", "incoming", "outgoing"])
    p.add_argument("--min-events", type=int, default=0, help="0 = server default (3)")
    p.add_argument("--as-of", default="", help="YYYY-MM-DD; empty = today in the server's zone")
    p.add_argument("--correlator", default=None, help="x-correlator header (default: a fresh UUID)")
    p.add_argument("--token", default=None, help="sent as 'authorization: Bearer TOKEN' when given")
    p.add_argument("--timeout", type=float, default=5.0, help="deadline in seconds")
    p.add_argument("--compress", choices=["gzip", "deflate"],
                   help="compress every request (the server takes gzip and deflate)")
    return p.parse_args()


def token_metadata(args):
    return [("authorization", f"Bearer {args.token}")] if args.token else []


def health(channel, args):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel)
    for service in ["", "fraudhotzone.v1.FraudHotzone"]:
        r = stub.Check(
            health_pb2.HealthCheckRequest(service=service),
            metadata=token_metadata(args),
            timeout=args.timeout,
        )
        name = service or '""'
        print(f"{name}: {health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}")
    return 0


def list_services(channel, args):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    calls = stub.ServerReflectionInfo(iter([req]), metadata=token_metadata(args), timeout=args.timeout)
    for resp in calls:
        for s in resp.list_services_response.service:
            print(s.name)
    return 0


def error_info(err):
    """(reason, field) of the google.rpc.ErrorInfo in grpc-status-details-bin, if any."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)
    if status is None:
        return None, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason, info.metadata.get("field")
    return None, None


def refused(err):
    reason, field = error_info(err)
    print(f"error: {err.code().name} (reason={reason}, field={field}): {err.details()}", file=sys.stderr)


def echoed(*metadata_lists):
    for md in metadata_lists:
        for key, value in md or ():
            if key == CORRELATOR:
                return value
    return None


def check(channel, args, pb2, pb2_grpc):
    if not args.phone_number:
        sys.exit("--phone-number is required for a check")
    req = pb2.CheckRequest(
        phone_number=args.phone_number,
        look_back_days=args.look_back_days,
        method={None: pb2.METHOD_UNSPECIFIED, "share": pb2.SHARE, "spike": pb2.SPIKE}[args.method],
        threshold_ratio=args.threshold_ratio,
        hotzone=[h.strip() for h in args.hotzone.split(",") if h.strip()],
        hotzone_name=args.hotzone_name,
        check_type={
            None: pb2.CHECK_TYPE_UNSPECIFIED,
            "all": pb2.CHECK_TYPE_ALL,
            "call": pb2.CALL,
            "sms": pb2.SMS,
        }[args.check_type],
        check_target={
            None: pb2.CHECK_TARGET_UNSPECIFIED,
            "all": pb2.CHECK_TARGET_ALL,
            "incoming": pb2.INCOMING,
            "outgoing": pb2.OUTGOING,
        }[args.check_target],
        min_events=args.min_events,
        as_of=args.as_of,
    )
    correlator = args.correlator or str(uuid.uuid4())
    metadata = [(CORRELATOR, correlator)] + token_metadata(args)
    stub = pb2_grpc.FraudHotzoneStub(channel)
    try:
        resp, call = stub.Check.with_call(req, metadata=metadata, timeout=args.timeout)
    except grpc.RpcError as err:
        refused(err)
        print(f"x-correlator={echoed(err.initial_metadata(), err.trailing_metadata())}", file=sys.stderr)
        return 1
    date = resp.anomaly_date or "(none)"
    print(f"anomaly_detected={str(resp.anomaly_detected).lower()} anomaly_date={date}")
    print(f"x-correlator={echoed(call.initial_metadata(), call.trailing_metadata())}")
    return 0


def main():
    args = parse_args()
    compression = {"gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate}.get(args.compress)
    with grpc.insecure_channel(args.server, compression=compression) as channel:
        if args.health or args.list_services:
            try:
                return (health if args.health else list_services)(channel, args)
            except grpc.RpcError as err:
                refused(err)
                return 1
        with tempfile.TemporaryDirectory(prefix="hotzone-stubs-") as out_dir:
            pb2, pb2_grpc = load_stubs(args.proto_dir, pathlib.Path(out_dir))
            return check(channel, args, pb2, pb2_grpc)


if __name__ == "__main__":
    sys.exit(main())
