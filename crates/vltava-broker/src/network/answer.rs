//! Writing an answer: the encoded bytes with the fetched records spliced
//! in, from their own buffers (vectored writes) or, on a plaintext socket,
//! straight from the segment files with `sendfile` (see
//! `crate::replica::zero_copy`).

use std::io::{self, ErrorKind, IoSlice};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use vltava_storage::Located;

/// Something written into an answer at a position of its encoded bytes.
#[derive(Debug)]
pub enum Splice {
    /// Records in memory.
    Bytes(Bytes),
    /// Records located in segment files, sent from there.
    File(Located),
}

/// A connection's stream, as far as sending files goes.
pub trait FileSocket {
    /// The TCP socket under the stream when what is written to it goes to
    /// the wire unchanged (no TLS), so the kernel may send files to it.
    fn plain_tcp(&self) -> Option<&TcpStream>;
}

impl FileSocket for TcpStream {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl FileSocket for tokio_rustls::server::TlsStream<TcpStream> {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// Writes `head` with each `(position, splice)` of `spliced` inserted at
/// its position (positions ascend), and flushes it: a TLS stream accepts
/// bytes it has only sealed into records when the socket has no room for
/// them, and sends those on a later write or a flush. Without the flush
/// the tail of an answer larger than the socket's buffer would wait for
/// the next answer, which the client, waiting for this one, never asks for.
pub async fn write_answer<S: AsyncWrite + FileSocket + Unpin>(
    stream: &mut S,
    head: &[u8],
    spliced: &[(usize, Splice)],
) -> io::Result<()> {
    write_unflushed(stream, head, spliced).await?;
    stream.flush().await
}

async fn write_unflushed<S: AsyncWrite + FileSocket + Unpin>(
    stream: &mut S,
    head: &[u8],
    spliced: &[(usize, Splice)],
) -> io::Result<()> {
    if spliced.is_empty() {
        return stream.write_all(head).await;
    }
    if !spliced.iter().any(|(_, s)| matches!(s, Splice::File(_))) {
        return write_vectored_all(stream, head, spliced).await;
    }
    let Some(tcp) = stream.plain_tcp() else {
        // The fetch handler only locates records for plaintext sockets.
        return Err(io::Error::other(
            "records located for sending from files on a connection that cannot send files",
        ));
    };
    // Corked, the pieces (encoded bytes, files, held-back bytes) leave in
    // full segments instead of one small segment each.
    set_cork(tcp, true);
    let written = write_pieces(tcp, head, spliced).await;
    set_cork(tcp, false);
    written
}

async fn write_vectored_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &[u8],
    spliced: &[(usize, Splice)],
) -> io::Result<()> {
    let mut slices = Vec::with_capacity(spliced.len() * 2 + 1);
    let mut at = 0;
    for (position, splice) in spliced {
        let Splice::Bytes(bytes) = splice else {
            unreachable!("only in-memory records here");
        };
        slices.push(IoSlice::new(&head[at..*position]));
        slices.push(IoSlice::new(bytes));
        at = *position;
    }
    slices.push(IoSlice::new(&head[at..]));
    slices.retain(|s| !s.is_empty());
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match stream.write_vectored(bufs).await {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn write_pieces(tcp: &TcpStream, head: &[u8], spliced: &[(usize, Splice)]) -> io::Result<()> {
    let mut at = 0;
    let mut memory: Vec<IoSlice<'_>> = Vec::new();
    for (position, splice) in spliced {
        memory.push(IoSlice::new(&head[at..*position]));
        match splice {
            Splice::Bytes(bytes) => memory.push(IoSlice::new(bytes)),
            Splice::File(located) => {
                write_all_tcp(tcp, std::mem::take(&mut memory)).await?;
                let last = send_located(tcp, located).await?;
                // (Corked: this byte waits for the rest, it is no packet
                // of its own.)
                write_all_tcp(tcp, vec![IoSlice::new(&[last])]).await?;
            }
        }
        at = *position;
    }
    memory.push(IoSlice::new(&head[at..]));
    write_all_tcp(tcp, memory).await
}

/// Sends a located read from its files but its last byte, which it
/// returns, read beforehand: only once every other byte is out is it
/// known that no truncation rewrote them meanwhile, and only then may the
/// answer be completed. Otherwise the error closes the connection, and
/// the client, holding an incomplete answer, asks again.
async fn send_located(tcp: &TcpStream, located: &Located) -> io::Result<u8> {
    let slices = located.slices();
    let Some(last) = slices.last() else {
        return Err(io::Error::other("an empty located read was spliced"));
    };
    let mut byte = [0u8; 1];
    last.file
        .read_exact_at(&mut byte, last.position + last.len - 1)?;
    for (i, slice) in slices.iter().enumerate() {
        let len = if i + 1 == slices.len() {
            slice.len - 1
        } else {
            slice.len
        };
        send_file(tcp, &slice.file, slice.position, len).await?;
    }
    if !located.unchanged() {
        return Err(io::Error::other(
            "the log was truncated while its records were being sent; the client will fetch again",
        ));
    }
    Ok(byte[0])
}

/// `len` bytes of `file` from `position` to the socket, by the kernel
/// (`sendfile`). Where the file system cannot (`sendfile_unsupported`), the
/// rest is read and written instead.
async fn send_file(
    tcp: &TcpStream,
    file: &std::fs::File,
    position: u64,
    len: u64,
) -> io::Result<()> {
    let end = position + len;
    let mut offset = libc::off_t::try_from(position).map_err(io::Error::other)?;
    while (offset as u64) < end {
        if !SENDFILE_WORKS.load(std::sync::atomic::Ordering::Relaxed) {
            return copy_file(tcp, file, offset as u64, end).await;
        }
        // sendfile moves at most 0x7ffff000 bytes at a time.
        let want = (end - offset as u64).min(1 << 30) as usize;
        tcp.writable().await?;
        let sent = tcp.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the call (the socket
            // and the file are borrowed), and `offset` is a valid off_t
            // the kernel advances by what it sent.
            let n = unsafe { libc::sendfile(tcp.as_raw_fd(), file.as_raw_fd(), &mut offset, want) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "a segment file ended before its located records did (truncated while being sent)",
            )),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) if sendfile_unsupported(&e) => {
                tracing::warn!(
                    "sendfile is not supported for the segment files ({e}); fetches copy through memory from now on"
                );
                SENDFILE_WORKS.store(false, std::sync::atomic::Ordering::Relaxed);
                return copy_file(tcp, file, offset as u64, end).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Cleared the first time `sendfile` says it cannot send from the
/// segment files (a file system without it): every later send copies.
static SENDFILE_WORKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether a `sendfile` error means it cannot work for this file at all
/// (EINVAL for a file that cannot be mapped, ENOSYS, EOPNOTSUPP), rather
/// than a broken connection.
fn sendfile_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

/// Bytes `position..end` of `file` to the socket through a buffer.
async fn copy_file(
    tcp: &TcpStream,
    file: &std::fs::File,
    mut position: u64,
    end: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_CHUNK.min((end - position) as usize)];
    while position < end {
        let want = ((end - position) as usize).min(buf.len());
        let n = file.read_at(&mut buf[..want], position)?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "a segment file ended before its located records did (truncated while being sent)",
            ));
        }
        write_all_tcp(tcp, vec![IoSlice::new(&buf[..n])]).await?;
        position += n as u64;
    }
    Ok(())
}

/// The buffer of `copy_file`.
const COPY_CHUNK: usize = 256 * 1024;

async fn write_all_tcp(tcp: &TcpStream, mut slices: Vec<IoSlice<'_>>) -> io::Result<()> {
    slices.retain(|s| !s.is_empty());
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        tcp.writable().await?;
        match tcp.try_write_vectored(bufs) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// TCP_CORK on or off; best effort (uncorked, the answer still goes out,
/// in more segments).
fn set_cork(tcp: &TcpStream, on: bool) {
    let _ = super::sockopt::set_int(tcp, libc::IPPROTO_TCP, libc::TCP_CORK, on.into());
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use vltava_records::RecordBatchBuilder;
    use vltava_storage::{Log, LogConfig, LogOpenOptions};

    use super::*;

    /// 100 one-record batches of about 235 bytes in segments of 4 KiB.
    fn log_of_100_batches(dir: &Path) -> Log {
        let config = LogConfig {
            segment_bytes: 4096,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let log = Log::open(&dir.join("t-0"), config, LogOpenOptions::default(), 0).unwrap();
        for i in 0..100 {
            let mut b = RecordBatchBuilder::new();
            b.append(i64::from(i), Some(b"key"), Some(&[b'v'; 150]), &[])
                .unwrap();
            log.append_as_leader(b.build().unwrap(), 0, 0).unwrap();
        }
        assert!(log.segment_count() > 4);
        log
    }

    /// A connected pair: what is written to the first is read from the
    /// second until it is closed.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connect = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, connected) = tokio::join!(listener.accept(), connect);
        (accepted.unwrap().0, connected.unwrap())
    }

    async fn write_and_receive(
        head: &[u8],
        spliced: &[(usize, Splice)],
    ) -> (io::Result<()>, Vec<u8>) {
        let (mut ours, mut theirs) = pair().await;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let _ = theirs.read_to_end(&mut got).await;
            got
        });
        let written = write_answer(&mut ours, head, spliced).await;
        drop(ours);
        (written, reader.await.unwrap())
    }

    /// The path taken where `sendfile` does not work: the same bytes,
    /// read in buffers bigger and smaller than the range.
    #[tokio::test]
    async fn without_sendfile_the_range_is_copied_through_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        let content: Vec<u8> = (0..(COPY_CHUNK * 2 + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        for (from, to) in [(100, content.len() - 50), (7, 19), (0, content.len())] {
            let (ours, mut theirs) = pair().await;
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                let _ = theirs.read_to_end(&mut got).await;
                got
            });
            copy_file(&ours, &file, from as u64, to as u64)
                .await
                .unwrap();
            drop(ours);
            let got = reader.await.unwrap();
            assert!(got == content[from..to], "bytes {from}..{to} differ");
        }
        // A range past the end of the file is an error, not zeros.
        let (ours, _theirs) = pair().await;
        let past = content.len() as u64;
        let err = copy_file(&ours, &file, past - 10, past + 10)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }

    #[test]
    fn only_errors_of_an_unsupported_sendfile_switch_to_copying() {
        for code in [libc::EINVAL, libc::ENOSYS, libc::EOPNOTSUPP] {
            assert!(sendfile_unsupported(&io::Error::from_raw_os_error(code)));
        }
        for code in [libc::EPIPE, libc::ECONNRESET, libc::EIO, libc::EAGAIN] {
            assert!(!sendfile_unsupported(&io::Error::from_raw_os_error(code)));
        }
    }

    #[tokio::test]
    async fn located_records_go_out_from_the_files_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_of_100_batches(dir.path());
        let expected = log.read(10, 1 << 20, i64::MAX, false).unwrap().records;
        let located = log.locate(10, 1 << 20, i64::MAX, false).unwrap();
        assert!(located.slices().len() > 3, "several segment files");
        let head = b"head|middle|tail";
        let spliced = vec![
            (5, Splice::File(located)),
            (12, Splice::Bytes(Bytes::from_static(b"in memory"))),
        ];
        let (written, got) = write_and_receive(head, &spliced).await;
        written.unwrap();
        let mut want = b"head|".to_vec();
        want.extend_from_slice(&expected);
        want.extend_from_slice(b"middle|");
        want.extend_from_slice(b"in memory");
        want.extend_from_slice(b"tail");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the bytes differ");
    }

    #[tokio::test]
    async fn a_truncation_during_the_send_leaves_the_answer_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_of_100_batches(dir.path());
        let located = log.locate(0, 1 << 20, i64::MAX, false).unwrap();
        let total = located.len();
        // A leader turned follower cuts its tail and takes the new
        // leader's records at the same positions.
        log.truncate_to(50).unwrap();
        for i in 0..50 {
            let mut b = RecordBatchBuilder::new();
            b.append(i64::from(i), Some(b"new"), Some(&[b'n'; 150]), &[])
                .unwrap();
            log.append_as_leader(b.build().unwrap(), 0, 1).unwrap();
        }
        let head = b"head|tail";
        let spliced = vec![(5, Splice::File(located))];
        let (written, got) = write_and_receive(head, &spliced).await;
        let e = written.unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(
            got.len() < head.len() + total,
            "the client must not get the whole answer ({} of {} bytes)",
            got.len(),
            head.len() + total
        );
    }

    #[tokio::test]
    async fn a_file_splice_needs_a_plain_socket() {
        struct NoFiles(TcpStream);
        impl FileSocket for NoFiles {
            fn plain_tcp(&self) -> Option<&TcpStream> {
                None
            }
        }
        impl AsyncWrite for NoFiles {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<io::Result<usize>> {
                std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
            }
            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                std::pin::Pin::new(&mut self.0).poll_flush(cx)
            }
            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let log = log_of_100_batches(dir.path());
        let located = log.locate(0, 1 << 20, i64::MAX, false).unwrap();
        let (ours, _theirs) = pair().await;
        let mut stream = NoFiles(ours);
        let e = write_answer(&mut stream, b"head", &[(4, Splice::File(located))])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot send files"), "{e}");
    }

    impl FileSocket for tokio_rustls::server::TlsStream<tokio::io::DuplexStream> {
        fn plain_tcp(&self) -> Option<&TcpStream> {
            None
        }
    }

    /// An answer far larger than what the connection buffers, over TLS, to
    /// a client that starts reading late: every byte arrives. (Before the
    /// flush, the last records sealed while the connection was full
    /// stayed in the TLS session and the client waited for them forever.)
    #[tokio::test]
    async fn a_tls_answer_larger_than_the_connection_buffer_arrives_whole() {
        use vltava_tls::dev::{DevCa, Use};
        let ca = DevCa::new("test CA").unwrap();
        let issued = ca
            .issue(Use::Server, "localhost", &["localhost".into()], None)
            .unwrap();
        let mut settings = vltava_tls::TlsSettings::with_keystore("SSL", "unused");
        settings.keystore_location = None;
        settings.keystore_key = Some(issued.key_pem.clone());
        settings.keystore_certificate_chain = Some(issued.cert_pem.clone());
        let server = vltava_tls::ServerTls::new(settings).unwrap();
        let client = vltava_tls::client_config(ca.cert_pem.as_bytes(), None).unwrap();
        // 16 KiB in flight at most, as a socket whose buffers are full.
        let (near, far) = tokio::io::duplex(16 * 1024);
        let accept = tokio_rustls::TlsAcceptor::from(server.config()).accept(near);
        let connect = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(
            tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            far,
        );
        let (ours, theirs) = tokio::join!(accept, connect);
        let (mut ours, mut theirs) = (ours.unwrap(), theirs.unwrap());

        let head: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let records = Bytes::from(vec![7u8; 3 << 20]);
        let expected = head.len() + records.len();
        let writer = tokio::spawn(async move {
            write_answer(&mut ours, &head, &[(100, Splice::Bytes(records))]).await?;
            // The connection stays open, as a client's does between answers.
            Ok::<_, io::Error>(ours)
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut got = vec![0u8; expected];
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            theirs.read_exact(&mut got),
        )
        .await
        .expect("the whole answer arrives")
        .unwrap();
        assert_eq!(
            &got[..100],
            &(0..100u32).map(|i| i as u8).collect::<Vec<_>>()[..]
        );
        assert!(got[100..100 + (3 << 20)].iter().all(|b| *b == 7));
        let _still_open = writer.await.unwrap().unwrap();
    }
}
