//! Keyset pagination: a page is the items after a cursor, in a stable order.

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to [`PageRequest::MAX_SIZE`].
    pub size: u32,
    /// The cursor of the last item of the previous page (the `next` of the
    /// previous [`Page`]); `None` for the first page.
    pub after: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_SIZE: u32 = 50;
    pub const MAX_SIZE: u32 = 500;

    pub fn first(size: u32) -> Self {
        Self { size, after: None }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor for the next page; `None` on the last page.
    pub next: Option<String>,
}
