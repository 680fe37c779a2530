//! Subscriptions end to end (below).
