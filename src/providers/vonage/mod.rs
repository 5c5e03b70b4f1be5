//! vonage adapter (in progress).
