//! funding-plaid: under construction.
