"""The descriptors server reflection describes: zkgate's services, and the Open Inference
Protocol under the spec's own name, `inference.GRPCInferenceService`.

The OIP messages are compiled under zkgate's package (the .proto says why: tritonclient
registers `inference.*` in the default pool). Reflection-driven tools (grpcurl, grpcui,
Postman) find a service by the name every OIP guide uses, so reflection answers from a pool of
its own, where the same file is added once more under the package `inference`. Field numbers
and method names are the spec's; only the names change, which the wire never carries.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor

from zkgate.wire import open_inference_pb2

OIP_PACKAGE = "inference"
OIP_FILE = "inference/grpc_predict_v2.proto"


def _with_dependencies(files: Iterable[FileDescriptor]) -> list[FileDescriptor]:
    """The files and everything they import, each after its imports (a pool needs that)."""
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for file in files:
        visit(file)
    return ordered


def _renamed_type(type_name: str, old: str) -> str:
    prefix = f".{old}."
    return (
        f".{OIP_PACKAGE}.{type_name[len(prefix) :]}" if type_name.startswith(prefix) else type_name
    )


def _rename_messages(messages: Iterable[descriptor_pb2.DescriptorProto], old: str) -> None:
    for message in messages:
        for message_field in message.field:
            if message_field.type_name:
                message_field.type_name = _renamed_type(message_field.type_name, old)
        _rename_messages(message.nested_type, old)


def oip_under_spec_name() -> descriptor_pb2.FileDescriptorProto:
    """Our OIP file as the spec names it: package `inference`, every type reference moved."""
    proto = descriptor_pb2.FileDescriptorProto()
    open_inference_pb2.DESCRIPTOR.CopyToProto(proto)
    old = proto.package
    proto.name, proto.package = OIP_FILE, OIP_PACKAGE
    _rename_messages(proto.message_type, old)
    for service in proto.service:
        for method in service.method:
            method.input_type = _renamed_type(method.input_type, old)
            method.output_type = _renamed_type(method.output_type, old)
    return proto


def reflection_pool(services: Iterable[str]) -> descriptor_pool.DescriptorPool:
    """A pool holding the named services' files (from the default pool) and the OIP file under
    the spec's name."""
    default = descriptor_pool.Default()
    files = [default.FindServiceByName(name).file for name in services]
    pool = descriptor_pool.DescriptorPool()
    for file in _with_dependencies(files):
        pool.AddSerializedFile(file.serialized_pb)
    pool.AddSerializedFile(oip_under_spec_name().SerializeToString())
    return pool
