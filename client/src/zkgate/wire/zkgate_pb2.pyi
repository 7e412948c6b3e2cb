from zkgate.wire import open_inference_pb2 as _open_inference_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProofPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROOF_POLICY_UNSPECIFIED: _ClassVar[ProofPolicy]
    PROOF_POLICY_ON_REQUEST: _ClassVar[ProofPolicy]
    PROOF_POLICY_ALWAYS: _ClassVar[ProofPolicy]
    PROOF_POLICY_NEVER: _ClassVar[ProofPolicy]

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_REGISTERING: _ClassVar[ModelState]
    MODEL_STATE_READY: _ClassVar[ModelState]
    MODEL_STATE_FAILED: _ClassVar[ModelState]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_REGISTER: _ClassVar[JobKind]
    JOB_KIND_PROVE: _ClassVar[JobKind]
PROOF_POLICY_UNSPECIFIED: ProofPolicy
PROOF_POLICY_ON_REQUEST: ProofPolicy
PROOF_POLICY_ALWAYS: ProofPolicy
PROOF_POLICY_NEVER: ProofPolicy
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_REGISTERING: ModelState
MODEL_STATE_READY: ModelState
MODEL_STATE_FAILED: ModelState
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_REGISTER: JobKind
JOB_KIND_PROVE: JobKind

class RegisterModelRequest(_message.Message):
    __slots__ = ("name", "onnx", "calibration", "srs_path", "srs_sha256", "policy", "max_logrows", "param_visibility")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ONNX_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    SRS_PATH_FIELD_NUMBER: _ClassVar[int]
    SRS_SHA256_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_LOGROWS_FIELD_NUMBER: _ClassVar[int]
    PARAM_VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    onnx: bytes
    calibration: bytes
    srs_path: str
    srs_sha256: str
    policy: ProofPolicy
    max_logrows: int
    param_visibility: str
    def __init__(self, name: _Optional[str] = ..., onnx: _Optional[bytes] = ..., calibration: _Optional[bytes] = ..., srs_path: _Optional[str] = ..., srs_sha256: _Optional[str] = ..., policy: _Optional[_Union[ProofPolicy, str]] = ..., max_logrows: _Optional[int] = ..., param_visibility: _Optional[str] = ...) -> None: ...

class RegisterModelResponse(_message.Message):
    __slots__ = ("model", "job_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    model: Model
    job_id: str
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ..., job_id: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "state", "policy", "commitment", "error", "registration_job_id", "card_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: ModelState
    policy: ProofPolicy
    commitment: str
    error: str
    registration_job_id: str
    card_json: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[ModelState, str]] = ..., policy: _Optional[_Union[ProofPolicy, str]] = ..., commitment: _Optional[str] = ..., error: _Optional[str] = ..., registration_job_id: _Optional[str] = ..., card_json: _Optional[str] = ...) -> None: ...

class GetVerifierBundleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class VerifierBundle(_message.Message):
    __slots__ = ("card_json", "verifying_key", "settings", "srs_slice")
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    VERIFYING_KEY_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SRS_SLICE_FIELD_NUMBER: _ClassVar[int]
    card_json: str
    verifying_key: bytes
    settings: bytes
    srs_slice: bytes
    def __init__(self, card_json: _Optional[str] = ..., verifying_key: _Optional[bytes] = ..., settings: _Optional[bytes] = ..., srs_slice: _Optional[bytes] = ...) -> None: ...

class GetServerIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerIdentity(_message.Message):
    __slots__ = ("receipt_public_key", "server_version", "ezkl_version")
    RECEIPT_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    EZKL_VERSION_FIELD_NUMBER: _ClassVar[int]
    receipt_public_key: str
    server_version: str
    ezkl_version: str
    def __init__(self, receipt_public_key: _Optional[str] = ..., server_version: _Optional[str] = ..., ezkl_version: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "kind", "state", "model_name", "commitment", "input_digest", "attempts", "error", "proof", "created_at", "updated_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: JobKind
    state: JobState
    model_name: str
    commitment: str
    input_digest: str
    attempts: int
    error: str
    proof: bytes
    created_at: float
    updated_at: float
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., model_name: _Optional[str] = ..., commitment: _Optional[str] = ..., input_digest: _Optional[str] = ..., attempts: _Optional[int] = ..., error: _Optional[str] = ..., proof: _Optional[bytes] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ...) -> None: ...

class RequestProofRequest(_message.Message):
    __slots__ = ("receipt", "request")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    receipt: str
    request: _open_inference_pb2.ModelInferRequest
    def __init__(self, receipt: _Optional[str] = ..., request: _Optional[_Union[_open_inference_pb2.ModelInferRequest, _Mapping]] = ...) -> None: ...
