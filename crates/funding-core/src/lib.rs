//! funding-core: under construction.
