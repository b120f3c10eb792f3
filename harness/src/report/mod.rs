//! Reporters: turn run events into a terminal view, JUnit XML, JSON and evidence bundles.
