//! The password lifecycle (R9, R10, R11, R38, R42; PCI DSS v4 8.3).
