//! funding-grpc: under construction.
