//! funding-client: under construction.
