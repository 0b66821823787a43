//! funding-tests: under construction.
