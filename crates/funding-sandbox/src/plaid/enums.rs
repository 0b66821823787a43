//! Closed value lists copied from Plaid's OpenAPI spec (`2020-09-14_1.697.4`): the `Products`
//! enum, the `processor` enum of `ProcessorTokenCreateRequest`, and `ItemRemoveReasonCode`.

/// `Products`.
pub(crate) const PRODUCTS: &[&str] = &[
    "assets", "auth", "balance", "balance_plus", "beacon", "identity", "identity_match",
    "investments", "investments_auth", "liabilities", "payment_initiation",
    "identity_verification", "transactions", "credit_details", "income", "income_verification",
    "standing_orders", "transfer", "employment", "recurring_transactions",
    "transactions_refresh", "signal", "statements", "processor_payments", "processor_identity",
    "profile", "cra_base_report", "cra_income_insights", "cra_partner_insights",
    "cra_network_insights", "cra_cashflow_insights", "cra_monitoring", "cra_lend_score",
    "cra_plaid_credit_score", "layer", "pay_by_bank", "protect_linked_bank",
    "protect_transactions",
];

/// `ProcessorTokenCreateRequest.processor`.
pub(crate) const PROCESSORS: &[&str] = &[
    "dwolla", "galileo", "modern_treasury", "ocrolus", "vesta", "drivewealth", "vopay", "achq",
    "check", "checkbook", "circle", "sila_money", "rize", "svb_api", "unit", "wyre", "lithic",
    "alpaca", "astra", "moov", "treasury_prime", "marqeta", "checkout", "solid", "highnote",
    "gemini", "apex_clearing", "gusto", "adyen", "atomic", "i2c", "wepay", "riskified", "utb",
    "adp_roll", "fortress_trust", "bond", "bakkt", "teal", "zero_hash", "taba_pay", "knot",
    "sardine", "alloy", "finix", "nuvei", "layer", "boom", "paynote", "stake", "wedbush",
    "esusu", "ansa", "scribeup", "straddle", "loanpro", "bloom_credit", "sfox", "brale",
    "parafin", "cardless", "open_ledger", "valon", "gainbridge", "cardlytics", "pinwheel",
    "thread_bank", "array", "fiant", "oatfi", "curinos", "frame", "interchecks", "interchange",
    "atomicfi",
];

/// `ItemRemoveReasonCode`.
pub(crate) const ITEM_REMOVE_REASON_CODES: &[&str] = &[
    "FRAUD_FIRST_PARTY", "FRAUD_FALSE_IDENTITY", "FRAUD_ABUSE", "FRAUD_OTHER",
    "CONNECTION_IS_NON_FUNCTIONAL", "OTHER",
];
