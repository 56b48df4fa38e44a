//! salesforce layer.
