//! funding-store: under construction.
