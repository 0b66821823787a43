//! funding-alpaca: under construction.
