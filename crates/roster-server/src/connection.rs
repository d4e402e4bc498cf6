//! The accepted connections both services serve on: TCP_NODELAY, and
//! writes HTTP/2 sees as not vectored, so that a unary answer leaves in one
//! write.
//!
//! h2 copies a DATA payload into its write buffer only below a threshold:
//! 256 bytes when the connection has vectored writes, 1 KiB when it has
//! not. A larger payload is chained behind the buffer for one `writev`,
//! and until that is written h2 buffers nothing more, so the trailers of
//! the same answer, and any other answer ready at the same moment, wait for
//! a write of their own. Issue 6 counted 1.85 `writev` per ValidateSession
//! (about 330 bytes) against 0.94 per Health/Check, whose answer is copied
//! whole; on loopback the write, which also delivers to the reader, was 42%
//! of the broker's CPU. Without vectored writes an answer under 1 KiB is
//! HEADERS, DATA and trailers in one buffer, and answers ready together
//! share a write. A larger answer (a page of users) costs a write for its
//! head and one for its payload, instead of one `writev`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// An accepted connection whose writes HTTP/2 takes as not vectored (see
/// the module documentation).
#[derive(Debug)]
pub struct ScalarWrites<T>(pub T);

impl<T: AsyncRead + Unpin> AsyncRead for ScalarWrites<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ScalarWrites<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// The peer's address, as a plain `TcpStream` reports it (R15's allowlist
/// and the audit log read it).
impl Connected for ScalarWrites<TcpStream> {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

/// The connections `listener` accepts, with TCP_NODELAY set. Without it a
/// response written in several pieces waits on Nagle's algorithm for the
/// client's delayed ACK: issue 6 measured every ValidateSession at ~45 ms
/// whatever the load, while the one-piece health answer was fast.
pub fn incoming(listener: TcpListener) -> impl Stream<Item = io::Result<ScalarWrites<TcpStream>>> {
    TcpIncoming::from(listener).with_nodelay(Some(true)).map(|accepted| accepted.map(ScalarWrites))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;
    use tokio::io::DuplexStream;

    use std::io::IoSlice;

    use super::*;

    /// A connection with vectored writes, as a `TcpStream` has, that counts
    /// the writes putting bytes on it.
    struct Counted {
        inner: DuplexStream,
        writes: Arc<AtomicUsize>,
    }

    impl Counted {
        fn counted(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
            if let Poll::Ready(Ok(bytes)) = &written {
                if *bytes > 0 {
                    self.writes.fetch_add(1, Ordering::SeqCst);
                }
            }
            written
        }
    }

    impl AsyncRead for Counted {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Counted {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let written = Pin::new(&mut this.inner).poll_write(cx, buf);
            this.counted(written)
        }

        /// One write of every slice, as `writev` is.
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let whole: Vec<u8> = bufs.iter().flat_map(|buf| buf.iter().copied()).collect();
            let written = Pin::new(&mut this.inner).poll_write(cx, &whole);
            this.counted(written)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }
    }

    /// The writes the server's connection makes to deliver one answer as
    /// tonic gives it to HTTP/2 (HEADERS, one DATA of `payload` bytes,
    /// trailers, all queued at once), over `wrap(connection)`.
    async fn writes_for_one_answer<T>(payload: usize, wrap: fn(Counted) -> T) -> usize
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (client_side, server_side) = tokio::io::duplex(1 << 20);
        let writes = Arc::new(AtomicUsize::new(0));
        let server_io = wrap(Counted { inner: server_side, writes: writes.clone() });
        let server = tokio::spawn(async move {
            let mut connection = h2::server::handshake(server_io).await.unwrap();
            let (_request, mut respond) = connection.accept().await.unwrap().unwrap();
            let before = writes.load(Ordering::SeqCst);
            let mut body = respond.send_response(http::Response::new(()), false).unwrap();
            body.send_data(Bytes::from(vec![7; payload]), false).unwrap();
            body.send_trailers(http::HeaderMap::new()).unwrap();
            // Drives the connection until the client goes.
            while connection.accept().await.is_some() {}
            (before, writes)
        });
        let (mut client, connection) = h2::client::handshake(client_side).await.unwrap();
        let driver = tokio::spawn(connection);
        let request = http::Request::get("http://roster.test/answer").body(()).unwrap();
        let (answer, _) = client.send_request(request, true).unwrap();
        let mut body = answer.await.unwrap().into_body();
        let mut received = 0;
        while let Some(chunk) = body.data().await {
            received += chunk.unwrap().len();
        }
        assert!(body.trailers().await.unwrap().is_some(), "the trailers arrived");
        assert_eq!(received, payload);
        drop((client, body));
        driver.abort();
        let (before, writes) = server.await.unwrap();
        writes.load(Ordering::SeqCst) - before
    }

    /// The size of a ValidateSession answer (issue 6, scenario 1).
    const PRINCIPAL: usize = 330;

    #[tokio::test]
    async fn a_unary_answer_under_a_kibibyte_leaves_in_one_write() {
        assert_eq!(writes_for_one_answer(PRINCIPAL, ScalarWrites).await, 1);
        assert_eq!(writes_for_one_answer(1000, ScalarWrites).await, 1);
    }

    #[tokio::test]
    async fn with_vectored_writes_http2_splits_the_same_answer() {
        // Why ScalarWrites exists: should h2 stop doing this, it can go.
        assert!(writes_for_one_answer(PRINCIPAL, |counted| counted).await > 1);
    }

    #[tokio::test]
    async fn the_peer_address_is_the_tcp_streams() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = TcpStream::connect(address).await.unwrap();
        let mut accepted = Box::pin(incoming(listener));
        let connection = accepted.next().await.unwrap().unwrap();
        let info = connection.connect_info();
        assert_eq!(info.remote_addr, Some(client.local_addr().unwrap()), "R15 and the audit log read it");
        assert_eq!(info.local_addr, Some(address));
        assert!(connection.0.nodelay().unwrap());
        assert!(!connection.is_write_vectored());
    }
}
