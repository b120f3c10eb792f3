//! Tests of server-side apply and managedFields bookkeeping.
