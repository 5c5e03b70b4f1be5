//! eight_by_eight adapter (in progress).
