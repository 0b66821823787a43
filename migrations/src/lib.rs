//! migration: under construction.
