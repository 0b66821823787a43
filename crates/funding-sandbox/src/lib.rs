//! funding-sandbox: under construction.
