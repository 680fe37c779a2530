//! The one integration-test binary: every test that crosses a file, a process or a socket.

mod cli;
mod conformance;
mod csv_parts;
mod day_turn;
mod grpc;
mod hostile;
mod http;
mod newcomer;
mod parquet_rows;
mod properties;
mod regions;
mod rest;
mod scan_vs_check;
mod security;
mod semantics;
mod subscriptions;
mod support;
