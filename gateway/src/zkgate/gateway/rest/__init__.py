"""The REST half of the Open Inference Protocol (KServe v2), beside the gRPC half."""
