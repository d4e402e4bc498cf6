//! A fresh PostgreSQL database per test, dropped afterwards: the store's
//! own ([`roster_directory_store::scratch::FreshDatabase`]).

pub use roster_directory_store::scratch::FreshDatabase;
