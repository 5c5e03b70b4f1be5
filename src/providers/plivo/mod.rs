//! plivo adapter (in progress).
